using System.Text.Json;
using FeatureStore.Contracts.V1;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Internal.Dashboard;

/// <summary>The drift history and incidents <see cref="DashboardData"/> reads, as the gRPC <c>DriftMonitor</c> messages.</summary>
internal static class DriftAnswers
{
    public static GetDriftHistoryResponse History(DashboardData.HistoryAnswer history)
    {
        var response = new GetDriftHistoryResponse { Model = history.Model, Version = history.Version, Column = history.Column ?? "" };
        foreach (var window in history.Windows)
        {
            if (Window(window) is { } parsed)
            {
                response.Windows.Add(parsed);
            }
        }

        return response;
    }

    public static ListAlertsResponse Alerts(DashboardData.AlertsAnswer alerts)
    {
        var response = new ListAlertsResponse { PendingDeliveries = alerts.PendingDeliveries, RejectedDeliveries = alerts.RejectedDeliveries };
        response.Open.AddRange(alerts.Open.Select(Incident));
        response.Resolved.AddRange(alerts.Resolved.Select(Incident));
        return response;
    }

    /// <summary>One history entry as the monitor wrote it; null for an entry of another shape (left out, as the dashboard does).</summary>
    private static DriftHistoryWindow? Window(JsonElement root)
    {
        try
        {
            var window = new DriftHistoryWindow
            {
                Column = root.GetProperty("column").GetString() ?? "",
                BaselineId = root.TryGetProperty("baseline_id", out var baseline) ? baseline.GetString() ?? "" : "",
                WindowStart = Time(root.GetProperty("window_start_ms").GetInt64()),
                WindowEnd = Time(root.GetProperty("window_end_ms").GetInt64()),
                Count = root.GetProperty("count").GetInt64(),
                Drifted = root.TryGetProperty("drifted", out var drifted) && drifted.GetBoolean(),
                Segment = DashboardData.Segment(root) ?? "",
            };
            foreach (var result in root.GetProperty("results").EnumerateArray())
            {
                var method = result.GetProperty("method").GetString() ?? "";
                var answer = new DriftMethodResult
                {
                    Method = method,
                    Threshold = result.GetProperty("threshold").GetDouble(),
                    Drifted = result.GetProperty("drifted").GetBoolean(),
                    LowerIsDrift = DashboardData.LowerIsDrift(method),
                };
                if (DashboardData.Number(result.GetProperty("value")) is { } value)
                {
                    answer.Value = value;
                }

                window.Results.Add(answer);
            }

            return window;
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private static DriftIncident Incident(DashboardData.IncidentRow row)
    {
        var incident = new DriftIncident
        {
            Key = row.Key,
            Model = row.Model,
            Version = row.Version,
            Column = row.Column,
            Method = row.Method,
            Open = row.Open,
            Alerted = row.Alerted,
            OpenedAt = row.OpenedMs is { } opened ? Time(opened) : null,
            ResolvedAt = row.ResolvedMs is { } resolved ? Time(resolved) : null,
            Segment = row.Segment ?? "",
        };
        if (row.Value is { } value)
        {
            incident.Value = value;
        }

        if (row.Threshold is { } threshold)
        {
            incident.Threshold = threshold;
        }

        return incident;
    }

    private static Timestamp Time(long epochMs) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(epochMs));
}
