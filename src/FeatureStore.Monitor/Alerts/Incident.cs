namespace FeatureStore.Monitor.Alerts;

/// <summary>
/// One incident of a (model, version, column, method, segment), as kept in the incidents hash: open or resolved,
/// and whether its <c>drift</c> alert went out.
/// </summary>
internal sealed class Incident
{
    /// <summary>The segment value, or null for the whole column (and for incidents written before segments).</summary>
    public string? Segment { get; set; }

    public bool Open { get; set; }

    public bool Alerted { get; set; }

    public string Id { get; set; } = "";

    public long LastAlertMs { get; set; } = long.MinValue / 2;

    // For readers of the hash (the dashboard): when it opened and cleared (window times), and the latest value.
    public long OpenedMs { get; set; }

    public long? ResolvedMs { get; set; }

    public double Value { get; set; }

    public double Threshold { get; set; }

    // The degradation policy's: consecutive breaching windows of the open incident, and whether it acted on it.
    public int Windows { get; set; }

    public bool Acted { get; set; }

    /// <summary>A copy to change, leaving this one as it was read.</summary>
    public Incident Clone() => (Incident)MemberwiseClone();
}
