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
/// <remarks>
/// A monitor with <c>segment_by</c> also keeps one window per segment (<see cref="SegmentRouter"/>: at most
/// <c>segments</c> values, the rest in <c>other</c>, predictions without the field in <c>(missing)</c>), each
/// compared with the column's baseline and skipping what its own persisted windows counted. The whole-column
/// window is the monitor's clock: when a time window of it closes, the segment windows of that time close with
/// it (a rare segment's window would otherwise hold the commit back until its next prediction), and the
/// routing is ranked again.
/// </remarks>
internal sealed class ColumnWindows(IEvaluatedSource persistence, MonitorOptions options, MonitorMetrics metrics, ILogger logger)
{
    private readonly Dictionary<(string Model, string Version, string Column), ColumnState> _columns = [];
    private readonly Dictionary<(string Model, string Version, string Column), SegmentSet> _segments = [];
    private readonly CommitBounds _bounds = new();
    private readonly Dictionary<PartitionKey, long> _commitTo = [];
    private readonly Dictionary<PartitionKey, long> _nextOffsets = [];
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    /// <summary>Bytes held by the open windows.</summary>
    public long MemoryBytes { get; private set; }

    /// <summary>What the windows closed since the last persist covered, to write with their history entries.</summary>
    public List<EvaluatedOffsets> ClosedOffsets { get; } = [];

    /// <summary>Open windows, whole-column and segment ones.</summary>
    public int OpenWindows => _columns.Count + _segments.Values.Sum(s => s.States.Count);

    /// <summary>Records a read; false when this member read that offset already since its assignment.</summary>
    public bool Read(PartitionKey partition, long offset) => _bounds.Read(partition, offset);

    /// <summary>The segment routing of a monitor, once one of its predictions was read (for tests and diagnostics).</summary>
    public SegmentRouter? Router(string model, string version, string column) => _segments.GetValueOrDefault((model, version, column))?.Router;

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
            _columns.TryGetValue(key, out var state);
            if (state is null || state.BaselineId != baseline.Id)
            {
                state = await CurrentAsync(state, model.Name, version, monitor, null, columnBaseline, baseline.Id, cancellationToken).ConfigureAwait(false);
                _columns[key] = state;
            }

            var set = monitor.SegmentBy is null ? null : _segments[key];
            var raw = set is not null && PredictionReader.TryGetColumn(root, monitor.SegmentBy!, out var field) ? PredictionReader.AsText(field) : null;
            if (state.Evaluated.TryGetValue(partition, out var upTo) && offset <= upTo)
            {
                metrics.Skip("evaluated"); // read again after a restart or rebalance: a persisted window counted it
            }
            else
            {
                Add(baseline, state, value, timeMs, partition, offset, long.MinValue, closed, set, raw);
            }

            if (set is not null)
            {
                await AddSegmentAsync(model.Name, version, monitor, set, baseline, columnBaseline, state, raw, value, timeMs, partition, offset, closed, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Per partition read, the offset the consumer may commit.</summary>
    public IReadOnlyDictionary<PartitionKey, long> CommitBounds()
    {
        _bounds.Compute(_columns.Values.Select(s => s.Offsets).Concat(_segments.Values.SelectMany(s => s.States.Values.Select(v => v.Offsets))), _commitTo);
        return _commitTo;
    }

    /// <summary>
    /// Adds to <see cref="ClosedOffsets"/> the segment routing of each monitor whose windows closed since the last
    /// persist, so it is written in their transaction (a restart then routes what it reads again as before).
    /// </summary>
    public void SnapshotRouting()
    {
        foreach (var ((model, version, column), set) in _segments)
        {
            if (set.Dirty)
            {
                ClosedOffsets.Add(new EvaluatedOffsets(model, version, column, [], null, null, set.Router.ToJson()));
                set.Dirty = false;
            }
        }
    }

    /// <summary>
    /// Drops every open window, as the partitions go (eager rebalancing revokes them all): the predictions they
    /// held are past no committed offset, so whoever owns the partitions next counts them. Returns how many held any.
    /// </summary>
    public int Drop()
    {
        var dropped = 0;
        foreach (var state in _columns.Values.Concat(_segments.Values.SelectMany(s => s.States.Values)))
        {
            MemoryBytes -= state.Window.MemoryBytes;
            dropped += state.Window.Count > 0 ? 1 : 0;
        }

        _columns.Clear();
        _segments.Clear(); // the routing too: the persisted one is read again, as what was routed since is read again
        _bounds.Forget();
        return dropped;
    }

    private async Task AddSegmentAsync(
        string model, string version, MonitorDefinition monitor, SegmentSet set, ModelBaseline baseline, ColumnBaseline columnBaseline, ColumnState whole,
        string? raw, JsonElement value, long timeMs, PartitionKey partition, long offset, List<DriftEvaluation> closed, CancellationToken cancellationToken)
    {
        var segment = set.Router.Route(raw, partition, offset, _bounds.LastRead);
        set.States.TryGetValue(segment, out var state);
        if (state is null || state.BaselineId != baseline.Id)
        {
            state = await CurrentAsync(state, model, version, monitor, segment, columnBaseline, baseline.Id, cancellationToken).ConfigureAwait(false);
            set.States[segment] = state;
        }

        // Skips are counted once per prediction and monitor, by the whole-column window.
        if (!(state.Evaluated.TryGetValue(partition, out var upTo) && offset <= upTo))
        {
            Add(baseline, state, value, timeMs, partition, offset, whole.ClosedEndMs, closed, null, null, whole: false);
        }
    }

    // The state of a monitor's window for the current baseline: a fresh window after an assignment (with what its
    // persisted windows covered), or after the baseline changed (a promotion, or the version's own baseline
    // stored: the open window's bins are the old baseline's, so it is dropped; what was evaluated stays so).
    private async Task<ColumnState> CurrentAsync(ColumnState? old, string model, string version, MonitorDefinition monitor, string? segment, ColumnBaseline columnBaseline, string baselineId, CancellationToken cancellationToken)
    {
        ColumnState state;
        if (old is not null)
        {
            MemoryBytes -= old.Window.MemoryBytes;
            state = new ColumnState(model, monitor, segment, columnBaseline, columnBaseline.NewWindow(), baselineId, version, old.Evaluated) { ClosedEndMs = old.ClosedEndMs };
        }
        else
        {
            var evaluated = new Dictionary<PartitionKey, long>();
            var loaded = await persistence.LoadEvaluatedAsync(model, version, monitor.Column, segment, evaluated, cancellationToken).ConfigureAwait(false);
            state = new ColumnState(model, monitor, segment, columnBaseline, columnBaseline.NewWindow(), baselineId, version, evaluated) { ClosedEndMs = loaded.ClosedEndMs };
            if (segment is null && monitor.SegmentBy is not null && !_segments.ContainsKey((model, version, monitor.Column)))
            {
                _segments[(model, version, monitor.Column)] = new SegmentSet(SegmentRouter.FromJson(monitor.Segments, loaded.Routing));
            }
        }

        MemoryBytes += state.Window.MemoryBytes;
        return state;
    }

    // Adds one value. For a segment window, predictions before floorMs (the end of the whole column's last closed
    // time window) are too late too. A whole-column window of a segmented monitor (set) counts the prediction's
    // segment value (raw) with the window that holds it.
    private void Add(ModelBaseline baseline, ColumnState state, JsonElement value, long timeMs, PartitionKey partition, long offset, long floorMs, List<DriftEvaluation> closed, SegmentSet? set, string? raw, bool whole = true)
    {
        if (state.Monitor.WindowSizeMs is { } size)
        {
            var index = Math.Floor((double)timeMs / size);

            // Before the open window, or in one already closed (by this run or, persisted, by an earlier one).
            if ((state.Window.Count > 0 && index < state.Index) || timeMs < Math.Max(state.ClosedEndMs, floorMs))
            {
                if (whole)
                {
                    metrics.Skip("too_late");
                }

                return;
            }

            if (state.Window.Count > 0 && index > state.Index)
            {
                Close(baseline, state, (long)state.Index * size, ((long)state.Index + 1) * size, closed);
                if (set is not null)
                {
                    WholeClosed(baseline, state, set, index, closed);
                }
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
                if (whole)
                {
                    metrics.Skip("wrong_type");
                }

                return;
        }

        set?.Router.Count(raw);

        state.Offsets.Hold(partition, offset);
        if (state.Monitor.WindowCount is { } count && state.Window.Count >= count)
        {
            Close(baseline, state, state.FirstMs, state.LastMs, closed);
            if (set is not null)
            {
                WholeClosed(baseline, state, set, null, closed);
            }
        }
    }

    // A whole-column window of a segmented monitor closed: its segment windows of earlier times close too, the
    // routing is ranked again, and a segment that lost its place closes what its window holds (a partial window).
    private void WholeClosed(ModelBaseline baseline, ColumnState whole, SegmentSet set, double? index, List<DriftEvaluation> closed)
    {
        if (index is { } next && whole.Monitor.WindowSizeMs is { } size)
        {
            foreach (var state in set.States.Values)
            {
                if (state.Window.Count > 0 && state.Index < next)
                {
                    Close(baseline, state, (long)state.Index * size, ((long)state.Index + 1) * size, closed);
                }
            }
        }

        _nextOffsets.Clear();
        foreach (var (partition, last) in _bounds.LastRead)
        {
            _nextOffsets[partition] = last + 1;
        }

        foreach (var evicted in set.Router.WindowClosed(_nextOffsets))
        {
            if (set.States.Remove(evicted, out var state))
            {
                if (state.Window.Count > 0)
                {
                    Close(baseline, state, state.FirstMs, state.LastMs, closed);
                }

                MemoryBytes -= state.Window.MemoryBytes;
            }
        }

        set.Dirty = true;
    }

    private void Close(ModelBaseline baseline, ColumnState state, long startMs, long endMs, List<DriftEvaluation> closed)
    {
        var evaluation = DriftEvaluation.Of(baseline, state.Monitor, state.Baseline, state.Window, startMs, endMs, options.UseLearnedThresholds) with { Version = state.Version, Segment = state.Segment };

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

        ClosedOffsets.Add(new EvaluatedOffsets(state.Model, state.Version, state.Monitor.Column, offsets, timed ? endMs : null, state.Segment));
        if (state.Monitor.SegmentBy is not null && _segments.TryGetValue((state.Model, state.Version, state.Monitor.Column), out var set))
        {
            set.Dirty = true;
        }

        state.Offsets.Clear();
        state.Window.Reset();
        state.LastMs = long.MinValue;
        closed.Add(evaluation);
        metrics.Window();
        MonitorLog.Evaluated(logger, evaluation.Model, evaluation.Version, evaluation.Segment is { } segment ? $"{evaluation.Column} [{state.Monitor.SegmentBy}={segment}]" : evaluation.Column, evaluation.Count,
            evaluation.Verdict switch { DriftVerdict.Drifted => "DRIFTED", DriftVerdict.InsufficientData => $"insufficient_data (< {evaluation.MinSamples})", _ => "ok" },
            string.Join(", ", evaluation.Results.Select(r => string.Create(CultureInfo.InvariantCulture, $"{DriftDefaults.Name(r.Method)}={r.Value:G4}/{r.Threshold:G4}"))));
    }

    // A segmented monitor's routing and its segment windows.
    private sealed class SegmentSet(SegmentRouter router)
    {
        public SegmentRouter Router { get; } = router;

        public Dictionary<string, ColumnState> States { get; } = new(StringComparer.Ordinal);

        /// <summary>A window closed since the routing was last persisted.</summary>
        public bool Dirty { get; set; }
    }

    private sealed class ColumnState(
        string model, MonitorDefinition monitor, string? segment, ColumnBaseline baseline, DriftWindow window, string baselineId, string version, Dictionary<PartitionKey, long> evaluated)
    {
        /// <summary>The model whose predictions fill the window.</summary>
        public string Model { get; } = model;

        /// <summary>The segment value, or null for the whole column.</summary>
        public string? Segment { get; } = segment;

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
