namespace FeatureStore.Core.Models;

/// <summary>A retraining request: a model version whose drift persisted.</summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The version whose windows drifted.</param>
/// <param name="Column">The column whose drift persisted first.</param>
/// <param name="Windows">Consecutive drifted windows of that column when it fired.</param>
/// <param name="IncidentId">Unique per persistent incident: <c>MODEL:VERSION:FIRST_DRIFTED_WINDOW_START_MS</c>.</param>
/// <param name="FirstWindowStartMs">Start of the first drifted window of the streak.</param>
/// <param name="LastWindowEndMs">End of the window that reached the streak.</param>
public sealed record RetrainRequest(string Model, string Version, string Column, int Windows, string IncidentId, long FirstWindowStartMs, long LastWindowEndMs);

/// <summary>
/// The retraining trigger's state for one model version: each monitored column's run of consecutive
/// drifted windows (and when the run began), and whether the current persistent incident has fired.
/// </summary>
public sealed class RetrainState
{
    /// <summary>Consecutive drifted windows per column (0 after a window within the thresholds).</summary>
    public Dictionary<string, int> Streaks { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Start of each column's current streak (epoch ms).</summary>
    public Dictionary<string, long> StreakStartMs { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The incident that fired and is still open; null when none is.</summary>
    public string? FiredIncident { get; set; }
}

/// <summary>
/// Decides when drift has persisted long enough to retrain (pure; the monitor persists the states).
/// A model version's incident fires when any of its columns has drifted in <c>N</c> consecutive windows,
/// once; it closes when every column of the version has had a window within its thresholds, and only then
/// can a new incident fire. So one persistent incident raises exactly one retraining request.
/// </summary>
public sealed class RetrainTracker
{
    private readonly int _afterWindows;
    private readonly Dictionary<(string Model, string Version), RetrainState> _states = [];

    /// <summary>A tracker firing after <paramref name="afterWindows"/> consecutive drifted windows (at least 1).</summary>
    public RetrainTracker(int afterWindows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(afterWindows, 1);
        _afterWindows = afterWindows;
    }

    /// <summary>The states, for persistence.</summary>
    public IReadOnlyDictionary<(string Model, string Version), RetrainState> States => _states;

    /// <summary>Restores a state saved earlier.</summary>
    public void Restore(string model, string version, RetrainState state) => _states[(model, version)] = state;

    /// <summary>
    /// Takes one evaluated window of a column; returns the request when this window makes the version's drift
    /// persistent and its incident has not fired yet.
    /// </summary>
    public RetrainRequest? Observe(string model, string version, string column, long windowStartMs, long windowEndMs, bool drifted)
    {
        var key = (model, version);
        if (!_states.TryGetValue(key, out var state))
        {
            state = new RetrainState();
            _states[key] = state;
        }

        if (!drifted)
        {
            state.Streaks[column] = 0;
            state.StreakStartMs.Remove(column);
            if (state.FiredIncident is not null && state.Streaks.Values.All(s => s == 0))
            {
                state.FiredIncident = null; // every column is back: the incident is over
            }

            return null;
        }

        var streak = state.Streaks.GetValueOrDefault(column) + 1;
        state.Streaks[column] = streak;
        if (streak == 1)
        {
            state.StreakStartMs[column] = windowStartMs;
        }

        if (streak < _afterWindows || state.FiredIncident is not null)
        {
            return null;
        }

        var start = state.StreakStartMs.GetValueOrDefault(column, windowStartMs);
        var incident = $"{model}:{version}:{start}";
        state.FiredIncident = incident;
        return new RetrainRequest(model, version, column, streak, incident, start, windowEndMs);
    }
}
