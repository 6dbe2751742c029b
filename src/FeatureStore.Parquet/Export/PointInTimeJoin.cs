using System.Globalization;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.Export;

/// <summary>
/// The point-in-time join of DESIGN.md §4 and §6, computed with <see cref="ViewWindowState"/> (the one
/// implementation of §4): per entity, its events in time order and its rows in time order are swept
/// together; each event at or before a row's instant is added (ties included) and the state is evaluated
/// at that instant. Entities are independent, so they are computed in parallel.
/// </summary>
internal static class PointInTimeJoin
{
    public const string TimestampColumn = "event_timestamp";

    /// <summary>Maps each row to an entity index by its join key columns; the keys in index order.</summary>
    public static (Dictionary<string, int> Index, int[] RowEntity) EntityKeys(Table table, IReadOnlyList<string> joinKeys, string file, string viewName)
    {
        var columns = new Array[joinKeys.Count];
        for (var k = 0; k < columns.Length; k++)
        {
            columns[k] = (table.Find(joinKeys[k])
                ?? throw new TableFileException($"{file}: no '{joinKeys[k]}' column, the join key of view {viewName} (columns: {string.Join(", ", table.Columns.Select(c => c.Name))})")).Values;
        }

        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var rowEntity = new int[table.RowCount];
        for (var r = 0; r < rowEntity.Length; r++)
        {
            var key = EventLogScan.Key(columns, r)
                ?? throw new TableFileException($"{file}: row {r + 1}, column {string.Join("/", joinKeys)}: empty join key");
            if (!index.TryGetValue(key, out var entity))
            {
                entity = index.Count;
                index[key] = entity;
            }

            rowEntity[r] = entity;
        }

        return (index, rowEntity);
    }

    /// <summary>The latest row instant of each entity (events after it are never needed).</summary>
    public static long[] Until(int entities, int[] rowEntity, long[] times)
    {
        var until = new long[entities];
        Array.Fill(until, long.MinValue);
        for (var r = 0; r < rowEntity.Length; r++)
        {
            until[rowEntity[r]] = Math.Max(until[rowEntity[r]], times[r]);
        }

        return until;
    }

    /// <summary>
    /// An output column for a feature: counts and distinct counts as integers, last of text as text, last_n and
    /// last_n_distinct as lists of texts, integers (of an int field) or numbers, top_k as value counts, the rest doubles.
    /// </summary>
    public static Array NewColumn(WindowedFeature feature, int rows) => feature.Kind switch
    {
        AggregationKind.Count or AggregationKind.ApproxDistinct => new long?[rows],
        AggregationKind.Last when feature.TextValued => new string?[rows],
        AggregationKind.LastN or AggregationKind.LastNDistinct when feature.TextValued => new IReadOnlyList<string>?[rows],
        AggregationKind.LastN or AggregationKind.LastNDistinct when feature.IntValued => new IReadOnlyList<long>?[rows],
        AggregationKind.LastN or AggregationKind.LastNDistinct => new IReadOnlyList<double>?[rows],
        AggregationKind.TopK => new IReadOnlyList<ValueCount>?[rows],
        _ => new double?[rows],
    };

    /// <summary>
    /// Computes the selected features of the rows of entities <paramref name="from"/> to <paramref name="to"/>
    /// (excluded) only, leaving other rows' outputs as they are; <paramref name="events"/> are sorted by entity
    /// and time and hold every entity's range (empty outside the part). <paramref name="initial"/> gives an
    /// entity's starting state (a snapshot), or null.
    /// </summary>
    public static void Sweep(
        IReadOnlyList<WindowedFeature> features, long ttlMs, ViewEvents events, int from, int to, int[] rowEntity, long[] times,
        IReadOnlyList<int> selected, Array[] outputs, Func<int, ViewWindowState?>? initial, IProgress<long>? entitiesDone,
        FeatureValue[]?[]? kept = null)
    {
        var entities = events.Starts.Length - 1;
        // Rows grouped by entity, each group in time order.
        var starts = new int[entities + 1];
        foreach (var e in rowEntity)
        {
            starts[e + 1]++;
        }

        for (var e = 0; e < entities; e++)
        {
            starts[e + 1] += starts[e];
        }

        var next = (int[])starts.Clone();
        var rows = new int[rowEntity.Length];
        var rowTimes = new long[rowEntity.Length];
        for (var r = 0; r < rowEntity.Length; r++)
        {
            var at = next[rowEntity[r]]++;
            rows[at] = r;
            rowTimes[at] = times[r];
        }

        long done = 0;
        Parallel.For(from, to, () => new SweepBuffers(new FeatureValue[features.Count], new FeatureInput[features.Count]), (e, _, buffers) =>
        {
            var (values, inputs) = buffers;
            var lo = starts[e];
            var n = starts[e + 1] - lo;
            Array.Sort(rowTimes, rows, lo, n);
            var state = initial?.Invoke(e) ?? buffers.Reused(features, ttlMs);
            var ev = events.Starts[e];
            var evEnd = events.Starts[e + 1];
            for (var i = lo; i < lo + n; i++)
            {
                var t = rowTimes[i];
                while (ev < evEnd && events.Time(ev) <= t)
                {
                    events.Inputs(ev, inputs);
                    state.Add(events.Time(ev), events.Sequence(ev), inputs);
                    ev++;
                }

                state.Evaluate(t, values);
                var row = rows[i];
                for (var s = 0; s < selected.Count; s++)
                {
                    Store(outputs[s], row, values[selected[s]]);
                    if (kept?[s] is { } whole)
                    {
                        whole[row] = values[selected[s]];
                    }
                }
            }

            var count = Interlocked.Increment(ref done);
            if ((count & 1023) == 0 || count == to - from)
            {
                entitiesDone?.Report(count);
            }

            return buffers;
        }, _ => { });
    }

    private sealed record SweepBuffers(FeatureValue[] Values, FeatureInput[] Inputs)
    {
        private ViewWindowState? _state;

        // One state per worker, emptied for each entity: its tile buffers grow to the busiest entity's once,
        // where a state per entity would allocate (and clear) them again for every entity.
        public ViewWindowState Reused(IReadOnlyList<WindowedFeature> features, long ttlMs)
        {
            if (_state is null)
            {
                _state = new ViewWindowState(features, ttlMs) { RetainRaw = false };
            }
            else
            {
                _state.Reset();
                _state.RetainRaw = false;
            }

            return _state;
        }
    }

    /// <summary>Writes a value into an output column (null for none).</summary>
    internal static void Store(Array column, int row, in FeatureValue value)
    {
        switch (column)
        {
            case long?[] l:
                l[row] = value.Kind == ValueKind.None ? null : value.Int64;
                break;
            case string?[] s:
                s[row] = value.Kind == ValueKind.String ? value.Text : null;
                break;
            case IReadOnlyList<string>?[] texts:
                texts[row] = value.Kind == ValueKind.StringList ? value.Strings : null;
                break;
            case IReadOnlyList<double>?[] numbers:
                numbers[row] = value.Kind == ValueKind.DoubleList ? value.Doubles : null;
                break;
            case IReadOnlyList<long>?[] integers:
                integers[row] = value.Kind == ValueKind.Int64List ? value.Int64s : null;
                break;
            case IReadOnlyList<ValueCount>?[] counts:
                counts[row] = value.Kind == ValueKind.Counts ? value.Counts : null;
                break;
            case double?[] d:
                d[row] = value.Kind switch
                {
                    ValueKind.Double => value.Double,
                    ValueKind.Int64 => value.Int64,
                    _ => null,
                };
                break;
            default:
                throw new InvalidOperationException("unknown output column type " + column.GetType().Name.ToString(CultureInfo.InvariantCulture));
        }
    }
}
