using System.Reflection;
using FeatureStore.Redis.Online;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace FeatureStore.Serving.Internal.Dashboard;

/// <summary>
/// The web dashboard: <c>/</c> redirects to <c>/dashboard</c>, a page (HTML, script and style embedded in
/// this assembly; no data in them) that draws its charts as SVG from the JSON endpoints
/// <c>GET /v1/dashboard/overview</c>, <c>/drift</c>, <c>/performance</c>, <c>/alerts</c>, <c>/latency</c> and <c>GET /v1/quality</c>. When the server
/// has API keys, the JSON endpoints need one like lookups do (<c>x-api-key</c> or <c>authorization: Bearer</c>;
/// never in the URL, so it does not end up in access logs); the page asks for it once per browser tab.
/// </summary>
internal static class DashboardEndpoints
{
    private static readonly Dictionary<string, string> Assets = new(StringComparer.Ordinal)
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["dashboard.js"] = "text/javascript; charset=utf-8",
        ["dashboard.css"] = "text/css; charset=utf-8",
        ["performance.js"] = "text/javascript; charset=utf-8",
        ["quality.js"] = "text/javascript; charset=utf-8",
        ["lookup.js"] = "text/javascript; charset=utf-8",
    };

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Redirect("/dashboard"));
        endpoints.MapGet("/dashboard", (HttpContext http) => AssetAsync(http, "index.html"));
        endpoints.MapGet("/dashboard/{file}", (HttpContext http, string file) => AssetAsync(http, file));
        endpoints.MapGet("/v1/dashboard/overview", (HttpContext http, DashboardData data) =>
            JsonAsync(http, data, (principal, ct) => data.OverviewAsync(principal, ct)));
        endpoints.MapGet("/v1/dashboard/drift", (HttpContext http, DashboardData data) =>
            JsonAsync(http, data, (_, ct) => data.DriftAsync(Limit(http.Request.Query, 200), ct)));
        endpoints.MapGet("/v1/dashboard/alerts", (HttpContext http, DashboardData data) =>
            JsonAsync(http, data, async (_, ct) => await data.AlertsAsync(ct).ConfigureAwait(false)));
        endpoints.MapGet("/v1/dashboard/latency", (HttpContext http, DashboardData data) =>
            JsonAsync(http, data, (_, _) => Task.FromResult(data.Latency())));
        endpoints.MapGet("/v1/dashboard/performance", (HttpContext http, DashboardData data) =>
            JsonAsync(http, data, (_, ct) => data.PerformanceAsync(Limit(http.Request.Query, 200), ct)));

        // The link drift alerts carry: one model version's history, newest windows last.
        // Query parameters are read here rather than bound by the framework, whose refusal of a value it cannot
        // convert (limit=abc) is a bare 400 without the JSON error every other refusal has.
        endpoints.MapGet("/v1/drift/history", (HttpContext http, DashboardData data) =>
            JsonAsync(http, data, async (_, ct) =>
            {
                var query = http.Request.Query;
                return await data.HistoryAsync(Text(query, "model"), Text(query, "version"), Text(query, "column"), Limit(query, 500),
                    "/v1/drift/history?model=M&version=V[&column=C][&limit=N]", ct).ConfigureAwait(false);
            }));

        // Freshness against each view's objective, served-value and dead-letter rates, and their incidents: also the
        // link freshness and quality alerts carry.
        endpoints.MapGet("/v1/quality", (HttpContext http, DashboardData data) =>
            JsonAsync(http, data, (principal, ct) => data.QualityAsync(principal, ct)));

        // One model version's performance windows: segment absent for all, empty for the whole population's only.
        endpoints.MapGet("/v1/performance/{model}/{version}", (HttpContext http, DashboardData data, string model, string version) =>
            JsonAsync(http, data, async (_, ct) =>
            {
                var query = http.Request.Query;
                var history = await data.PerformanceHistoryAsync(model, version, Text(query, "segment"), Limit(query, 500),
                    "/v1/performance/MODEL/VERSION[?segment=S][&limit=N]", ct).ConfigureAwait(false);
                return PerformanceAnswers.Json(history);
            }));

        // One model's stage history from the model registry: promotions with their gates, rollbacks, retraining requests.
        endpoints.MapGet("/v1/models/{model}/history", (HttpContext http, DashboardData data, string model) =>
            JsonAsync(http, data, async (_, ct) =>
            {
                var changes = await data.StageHistoryAsync(model, Limit(http.Request.Query, DashboardData.DefaultStageChanges),
                    "/v1/models/MODEL/history[?limit=N]", ct).ConfigureAwait(false);
                return System.Text.Json.JsonSerializer.SerializeToNode(changes, Redis.Models.StageHistory.Json)!;
            }));
    }

    /// <summary>
    /// The <c>limit</c> query parameter: <paramref name="fallback"/> when absent, a whole number from 1 on
    /// (answered as <see cref="DashboardData.MaxWindows"/> above it), INVALID_ARGUMENT naming it otherwise.
    /// </summary>
    internal static int Limit(IQueryCollection query, int fallback)
    {
        if (Text(query, "limit") is not { } text)
        {
            return fallback;
        }

        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var limit) || limit < 1)
        {
            ThrowHelper.ThrowInvalid($"query parameter 'limit' must be a whole number from 1 to {DashboardData.MaxWindows}, not '{ThrowHelper.Shown(text)}'");
        }

        return (int)Math.Min(limit, DashboardData.MaxWindows);
    }

    /// <summary>A query parameter given at most once: null when absent, INVALID_ARGUMENT naming it when repeated.</summary>
    private static string? Text(IQueryCollection query, string name)
    {
        var values = query[name];
        return values.Count switch
        {
            0 => null,
            1 => values[0],
            _ => ThrowHelper.ThrowInvalid<string?>($"query parameter '{name}' is given {values.Count} times; give it once"),
        };
    }

    private static async Task AssetAsync(HttpContext http, string file)
    {
        if (!Assets.TryGetValue(file, out var contentType)
            || Assembly.GetExecutingAssembly().GetManifestResourceStream("FeatureStore.Serving.Dashboard." + file) is not { } stream)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        await using (stream)
        {
            http.Response.ContentType = contentType;
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers["X-Content-Type-Options"] = "nosniff";
            http.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
            await stream.CopyToAsync(http.Response.Body, http.RequestAborted).ConfigureAwait(false);
        }
    }

    private static async Task JsonAsync(HttpContext http, DashboardData data, Func<HashSet<string>?, CancellationToken, Task<object>> answer)
    {
        http.Response.Headers.CacheControl = "no-store";
        try
        {
            var principal = data.Keys.Authenticate(ApiKeyPolicy.FromHeaders(http.Request.Headers["x-api-key"], http.Request.Headers.Authorization));
            var body = await answer(principal, http.RequestAborted).ConfigureAwait(false);
            await http.Response.WriteAsJsonAsync(body, DashboardData.Json, http.RequestAborted).ConfigureAwait(false);
        }
        catch (LookupException ex)
        {
            await HttpEndpoints.WriteErrorAsync(http, ex).ConfigureAwait(false);
        }
        catch (Exception ex) when (OnlineStoreHealth.IsStoreFailure(ex))
        {
            await HttpEndpoints.WriteErrorAsync(http, LookupException.Unavailable($"the online store is unavailable: {ex.Message}", ex)).ConfigureAwait(false);
        }
    }
}
