using System.Globalization;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Persistence;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Monitor.Job;

/// <summary>
/// The open windows, one per model version and monitored column (by event time or by count; memory bounded
/// by the baseline, not by the window), and what they hold per partition. A time window closes when the
/// first prediction at or after its end arrives; predictions for a window already closed are skipped
/// (<c>too_late</c>). A closed window is evaluated, and what it covered is kept for
/// <see cref="WindowPersistence"/> to write with its history entry. From the windows come the commit bounds:
/// a partition is committed no further than the first offset an open window holds from it.
/// </summary>
internal sealed class ColumnWindows(WindowPersistence persistence, MonitorOptions options, MonitorMetrics metrics, ILogger logger)
{
    private readonly Dictionary<(string Model, string Version, string Column), ColumnState> _columns = [];
    private readonly CommitBounds _bounds = new();
    private readonly Dictionary<PartitionKey, long> _commitTo = [];
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    /// <summary>Bytes held by the open windows.</summary>
    public long MemoryBytes { get; private set; }

    /// <summary>What the windows closed since the last persist covered, to write with their history entries.</summary>
    public List<EvaluatedOffsets> ClosedOffsets { get; } = [];

    /// <summary>Records a read; false when this member read that offset already since its assignment.</summary>
    public bool Read(PartitionKey partition, long offset) => _bounds.Read(partition, offset);

    /// <summary>
    /// Adds the prediction's monitored columns (<paramref name="root"/>) to their windows, compared with
    /// <paramref name="baseline"/>; windows that close are evaluated into <paramref name="closed"/>.
    /// </summary>
    public async Task AddAsync(ModelDefinition model, string version, ModelBaseline baseline, JsonElement root, long timeMs, PartitionKey partition, long offset, List<DriftEvaluation> closed, CancellationToken cancellationToken)
    {
        foreach (var monitor in model.Monitors)
        {
            if (!baseline.Columns.TryGetValue(monitor.Column, out var columnBaseline))
            {
                continue;
            }

            if (!PredictionReader.TryGetColumn(root, monitor.Column, out var value))
            {
                metrics.Skip("missing_feature");
                if (_warned.Add($"{model.Name}:{monitor.Column}"))
                {
                    MonitorLog.MissingFeature(logger, model.Name, MonitorColumns.TableName(monitor.Column), monitor.Column);
                }

                continue;
            }

            var key = (model.Name, version, monitor.Column);
            if (_columns.TryGetValue(key, out var state) && state.BaselineId != baseline.Id)
            {
                // The baseline changed (a promotion, or the version's own baseline stored): the open window's
                // bins are the old baseline's, so it is dropped and a fresh one starts (what was evaluated stays so).
                MemoryBytes -= state.Window.MemoryBytes;
                _columns.Remove(key);
                var fresh = new ColumnState(model.Name, monitor, columnBaseline, columnBaseline.NewWindow(), baseline.Id, version, state.Evaluated)
                {
                    ClosedEndMs = state.ClosedEndMs,
                };
                state = fresh;
                _columns[key] = state;
                MemoryBytes += state.Window.MemoryBytes;
            }

            if (state is null)
            {
                state = await NewStateAsync(model.Name, version, monitor, columnBaseline, baseline.Id, cancellationToken).ConfigureAwait(false);
                _columns[key] = state;
                MemoryBytes += state.Window.MemoryBytes;
            }

            if (state.Evaluated.TryGetValue(partition, out var upTo) && offset <= upTo)
            {
                metrics.Skip("evaluated"); // read again after a restart or rebalance: a persisted window counted it
                continue;
            }

            Add(baseline, state, value, timeMs, partition, offset, closed);
        }
    }

    /// <summary>Per partition read, the offset the consumer may commit.</summary>
    public IReadOnlyDictionary<PartitionKey, long> CommitBounds()
    {
        _bounds.Compute(_columns.Values.Select(s => s.Offsets), _commitTo);
        return _commitTo;
    }

    /// <summary>
    /// Drops every open window, as the partitions go (eager rebalancing revokes them all): the predictions they
    /// held are past no committed offset, so whoever owns the partitions next counts them. Returns how many held any.
    /// </summary>
    public int Drop()
    {
        var dropped = 0;
        foreach (var state in _columns.Values)
        {
            MemoryBytes -= state.Window.MemoryBytes;
            dropped += state.Window.Count > 0 ? 1 : 0;
        }

        _columns.Clear();
        _bounds.Forget();
        return dropped;
    }

    // The monitor's state after an assignment: a fresh window, and what its persisted windows covered.
    private async Task<ColumnState> NewStateAsync(string model, string version, MonitorDefinition monitor, ColumnBaseline columnBaseline, string baselineId, CancellationToken cancellationToken)
    {
        var evaluated = new Dictionary<PartitionKey, long>();
        var closedEndMs = await persistence.LoadEvaluatedAsync(model, version, monitor.Column, evaluated, cancellationToken).ConfigureAwait(false);
        return new ColumnState(model, monitor, columnBaseline, columnBaseline.NewWindow(), baselineId, version, evaluated) { ClosedEndMs = closedEndMs };
    }

    private void Add(ModelBaseline baseline, ColumnState state, JsonElement value, long timeMs, PartitionKey partition, long offset, List<DriftEvaluation> closed)
    {
        if (state.Monitor.WindowSizeMs is { } size)
        {
            var index = Math.Floor((double)timeMs / size);

            // Before the open window, or in one already closed (by this run or, persisted, by an earlier one).
            if ((state.Window.Count > 0 && index < state.Index) || timeMs < state.ClosedEndMs)
            {
                metrics.Skip("too_late");
                return;
            }

            if (state.Window.Count > 0 && index > state.Index)
            {
                Close(baseline, state, (long)state.Index * size, ((long)state.Index + 1) * size, closed);
            }

            if (state.Window.Count == 0)
            {
                state.Index = index;
            }
        }

        if (state.Window.Count == 0)
        {
            state.FirstMs = timeMs;
        }

        state.LastMs = Math.Max(state.LastMs, timeMs);
        switch (state.Window)
        {
            case NumericWindow numeric when PredictionReader.AsNumber(value) is { } number:
                numeric.Add(number);
                break;
            case CategoricalWindow categorical:
                categorical.Add(PredictionReader.AsText(value));
                break;
            default:
                metrics.Skip("wrong_type");
                return;
        }

        state.Offsets.Hold(partition, offset);
        if (state.Monitor.WindowCount is { } count && state.Window.Count >= count)
        {
            Close(baseline, state, state.FirstMs, state.LastMs, closed);
        }
    }

    private void Close(ModelBaseline baseline, ColumnState state, long startMs, long endMs, List<DriftEvaluation> closed)
    {
        var evaluation = DriftEvaluation.Of(baseline, state.Monitor, state.Baseline, state.Window, startMs, endMs, options.UseLearnedThresholds) with { Version = state.Version };

        // What the window covered, persisted with its history entry: from here on, reading these predictions
        // again (after a restart or a rebalance) skips them for this monitor, and the commit may pass them.
        var timed = state.Monitor.WindowSizeMs is not null;
        var offsets = new (PartitionKey, long)[state.Offsets.Held.Count];
        var i = 0;
        foreach (var (partition, range) in state.Offsets.Held)
        {
            offsets[i++] = (partition, range.Last);
            state.Evaluated[partition] = range.Last;
        }

        if (timed)
        {
            state.ClosedEndMs = endMs;
        }

        ClosedOffsets.Add(new EvaluatedOffsets(state.Model, state.Version, state.Monitor.Column, offsets, timed ? endMs : null));
        state.Offsets.Clear();
        state.Window.Reset();
        state.LastMs = long.MinValue;
        closed.Add(evaluation);
        metrics.Window();
        MonitorLog.Evaluated(logger, evaluation.Model, evaluation.Version, evaluation.Column, evaluation.Count,
            evaluation.Verdict switch { DriftVerdict.Drifted => "DRIFTED", DriftVerdict.InsufficientData => $"insufficient_data (< {evaluation.MinSamples})", _ => "ok" },
            string.Join(", ", evaluation.Results.Select(r => string.Create(CultureInfo.InvariantCulture, $"{DriftDefaults.Name(r.Method)}={r.Value:G4}/{r.Threshold:G4}"))));
    }

    private sealed class ColumnState(
        string model, MonitorDefinition monitor, ColumnBaseline baseline, DriftWindow window, string baselineId, string version, Dictionary<PartitionKey, long> evaluated)
    {
        /// <summary>The model whose predictions fill the window.</summary>
        public string Model { get; } = model;

        /// <summary>Per partition, the highest offset in an evaluated window: lower ones are skipped when read again.</summary>
        public Dictionary<PartitionKey, long> Evaluated { get; } = evaluated;

        /// <summary>End of the last closed time window: earlier predictions are too late.</summary>
        public long ClosedEndMs { get; set; } = long.MinValue;

        /// <summary>The offsets the open window holds.</summary>
        public WindowOffsets Offsets { get; } = new();

        /// <summary>The version whose predictions fill the window (the baseline may be another version's).</summary>
        public string Version { get; } = version;

        public string BaselineId { get; } = baselineId;

        public MonitorDefinition Monitor { get; } = monitor;

        public ColumnBaseline Baseline { get; } = baseline;

        public DriftWindow Window { get; } = window;

        public double Index { get; set; }

        public long FirstMs { get; set; }

        public long LastMs { get; set; } = long.MinValue;
    }
}
