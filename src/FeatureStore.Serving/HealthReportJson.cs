using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FeatureStore.Serving;

/// <summary>
/// The body of <c>/healthz</c> and <c>/readyz</c>: <c>{"status":"Healthy|Degraded|Unhealthy","checks":{NAME:{"status","description","data"}}}</c>,
/// so a host that adds checks (the jobs of <c>featurestore run</c>) shows each one.
/// </summary>
public static class HealthReportJson
{
    /// <summary>Writes <paramref name="report"/> as JSON.</summary>
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        context.Response.ContentType = "application/json";
        var body = new Dictionary<string, object?>
        {
            ["status"] = report.Status.ToString(),
            ["checks"] = report.Entries.ToDictionary(e => e.Key, e => (object)new Dictionary<string, object?>
            {
                ["status"] = e.Value.Status.ToString(),
                ["description"] = e.Value.Description,
                ["data"] = e.Value.Data.ToDictionary(d => d.Key, d => d.Value?.ToString()),
            }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body), context.RequestAborted);
    }
}
