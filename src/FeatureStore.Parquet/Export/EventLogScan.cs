using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Tables;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Parquet.Export;

/// <summary>
/// Reads the events of one view from its source's event log, column by column: only the key, time,
/// offset and input columns, and only events of wanted entities no later than their last wanted instant.
/// </summary>
internal static class EventLogScan
{
    /// <summary>One view's part of a scan (see <see cref="LoadAsync(string, CompiledView, Dictionary{string, int}, long[], ViewEvents, Func{int, long, long, bool}, IProgress{long}, CancellationToken)"/>).</summary>
    /// <param name="View">The view.</param>
    /// <param name="Entities">Its entities by key.</param>
    /// <param name="Until">Each entity's latest instant wanted, or null for every event of every entity.</param>
    /// <param name="Events">Where its events go.</param>
    /// <param name="Include">Which events to keep (partition, offset, time), or null for all.</param>
    public sealed record ScanTarget(CompiledView View, Dictionary<string, int> Entities, long[]? Until, ViewEvents Events, Func<int, long, long, bool>? Include);

    /// <summary>
    /// Adds the matching events to <paramref name="events"/> (the inputs of its <see cref="ViewEvents.ColumnSlots"/>);
    /// returns the number of log rows read. With <paramref name="until"/> null every entity is wanted and new
    /// keys are added to <paramref name="entities"/>. <paramref name="include"/> (partition, offset, time) can
    /// leave out events a snapshot already holds; it may be called from several threads at once.
    /// </summary>
    public static Task<long> LoadAsync(
        string root, CompiledView view, Dictionary<string, int> entities, long[]? until,
        ViewEvents events, Func<int, long, long, bool>? include, IProgress<long>? rowsRead, CancellationToken cancellationToken) =>
        LoadAsync(root, [new ScanTarget(view, entities, until, events, include)], rowsRead, cancellationToken);

    /// <summary>
    /// Fills the events of several views of one source in one pass over its log (each column decoded once);
    /// returns the number of log rows read. See the other overload for each target's parts.
    /// </summary>
    public static async Task<long> LoadAsync(string root, IReadOnlyList<ScanTarget> targets, IProgress<long>? rowsRead, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(targets.Count);
        var source = targets[0].View.Source;
        if (targets.Any(t => t.View.Source != source))
        {
            throw new ArgumentException("the views of one scan must share their source", nameof(targets));
        }

        var files = EventLogReader.CommittedFiles(root, source.Definition.Name);

        // Files are decoded on every core and appended in file order, so the events (and any error) come in
        // the same order as from one reader. With a known set of entities decoding only looks keys up, and
        // picks the wanted rows; otherwise (a backfill, which numbers entities as it meets them) appending does.
        var workers = targets.Any(t => t.Until is null) ? 1 : Math.Clamp(Environment.ProcessorCount, 1, Math.Max(1, files.Count));
        var turns = new TaskCompletionSource[files.Count + 1];
        for (var k = 0; k < turns.Length; k++)
        {
            turns[k] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        turns[0].SetResult();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var claimed = -1;
        long read = 0;
        Exception? failure = null;
        var taken = Array.Empty<int>();

        async Task WorkAsync()
        {
            try
            {
                for (var k = Interlocked.Increment(ref claimed); k < files.Count; k = Interlocked.Increment(ref claimed))
                {
                    var groups = await DecodeAsync(files[k], targets, stop.Token).ConfigureAwait(false);
                    await turns[k].Task.WaitAsync(stop.Token).ConfigureAwait(false);
                    foreach (var group in groups)
                    {
                        for (var t = 0; t < targets.Count; t++)
                        {
                            Append(group, group.Targets[t], targets[t], ref taken);
                        }

                        read += group.Rows;
                        rowsRead?.Report(read);
                        group.Lease.Return();
                    }

                    turns[k + 1].SetResult();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // another worker failed, or the caller cancelled
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        var tasks = new Task[workers];
        for (var w = 0; w < workers; w++)
        {
            tasks[w] = Task.Run(WorkAsync, CancellationToken.None);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return read;
    }

    /// <summary>One log row handed to <see cref="StreamAsync"/>'s callback: its entity key, time, partition, offset and one input per view feature.</summary>
    public delegate void RowAction(string key, long time, int partition, long offset, ReadOnlySpan<FeatureInput> inputs);

    /// <summary>
    /// Hands every row of <paramref name="view"/>'s source log that <paramref name="include"/> keeps (partition,
    /// offset, time) to <paramref name="row"/>, file after file in the log's order, holding one file's decoded
    /// columns at a time (the next one is decoded meanwhile): memory stays bounded whatever the log's size. Only
    /// the files of visible batches <paramref name="batches"/> keeps (partition, first offset) are read. Rows
    /// without a whole entity key are left out. Only the input columns of <paramref name="features"/> (indexes of
    /// the view's features; null: all) are read, the other features' inputs given as absent. Returns the log rows
    /// read; <paramref name="rowsRead"/> gets the running count after each row group.
    /// </summary>
    public static async Task<long> StreamAsync(
        string root, CompiledView view, Func<int, long, bool> batches, Func<int, long, long, bool> include, RowAction row, IProgress<long>? rowsRead,
        CancellationToken cancellationToken, IReadOnlyCollection<int>? features = null)
    {
        ArgumentNullException.ThrowIfNull(view);
        var inputSlots = view.InputSlots.Select((slot, f) => features is null || features.Contains(f) ? slot : -1).ToList();
        var folder = EventLogWriter.SourceFolder(root, view.Source.Definition.Name);
        var files = EventLogReader.Visible(EventLogReader.ReadMarkers(Path.Combine(folder, CommitMarker.Folder)))
            .Where(m => batches(m.Partition, m.FirstOffset))
            .SelectMany(m => m.Files.Select(f => Path.Combine(folder, f)))
            .ToList();
        var events = new ViewEvents(inputSlots);
        var target = new ScanTarget(view, [], null, events, include);
        var columnOf = inputSlots.Select(slot => slot < 0 ? -1 : events.ColumnSlots.ToList().IndexOf(slot)).ToArray();
        var inputs = new FeatureInput[inputSlots.Count];
        long read = 0;
        var next = files.Count > 0 ? DecodeAsync(files[0], [target], cancellationToken) : null;
        for (var k = 0; k < files.Count; k++)
        {
            var groups = await next!.ConfigureAwait(false);
            var following = k + 1 < files.Count ? files[k + 1] : null;
            next = following is null ? null : Task.Run(() => DecodeAsync(following, [target], cancellationToken), cancellationToken);
            foreach (var group in groups)
            {
                var rows = group.Targets[0];
                var texts = rows.Inputs.Select(c => c.Texts.Select(FeatureInput.OfText).ToArray()).ToArray();
                var singleText = rows.Keys is { Length: 1 } ? rows.Keys[0] as string?[] : null;
                for (var i = 0; i < group.Rows; i++)
                {
                    if (!include(group.Partitions![i], group.Offsets[i], group.Times[i])
                        || (singleText is null ? Key(rows.Keys!, i) : singleText[i]) is not { } key)
                    {
                        continue;
                    }

                    for (var f = 0; f < inputs.Length; f++)
                    {
                        var column = columnOf[f];
                        var code = column < 0 ? 0 : rows.Inputs[column].Codes[i];
                        inputs[f] = code switch
                        {
                            0 => FeatureInput.Absent,
                            1 => FeatureInput.OfNumber(rows.Inputs[column].Numbers![i]),
                            _ => texts[column][code - 2],
                        };
                    }

                    row(key, group.Times[i], group.Partitions[i], group.Offsets[i], inputs);
                }

                read += group.Rows;
                rowsRead?.Report(read);
                group.Lease.Return();
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        return read;
    }

    /// <summary>Rows in a source's committed log files, from their footers (no column is read).</summary>
    public static async Task<long> CountRowsAsync(string root, CompiledSource source, CancellationToken cancellationToken)
    {
        long rows = 0;
        foreach (var file in EventLogReader.CommittedFiles(root, source.Definition.Name))
        {
            var reader = await ParquetReader.CreateAsync(file, cancellationToken: cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                rows += reader.Metadata?.RowGroups.Sum(g => g.NumRows) ?? 0;
            }
        }

        return rows;
    }

    /// <summary>One row group's shared columns (times, offsets, partitions) and each target's part of it.</summary>
    /// <remarks>Its arrays are taken from the shared pool (<see cref="Lease"/>), longer than <see cref="Rows"/>, and given back once it is used.</remarks>
    private sealed record RowGroup(int Rows, long[] Times, long[] Offsets, int[]? Partitions, TargetRows[] Targets, Lease Lease);

    /// <summary>
    /// A target's part of a row group: its key columns (when entities are numbered while appending), each row's
    /// entity (-1: not wanted) when known while decoding, and its input columns.
    /// </summary>
    private sealed record TargetRows(Array[]? Keys, int[]? Entity, InputColumn[] Inputs);

    /// <summary>
    /// One input column of a row group, coded as <see cref="ViewEvents"/> codes it: per row 0 (absent), 1 (a
    /// number, in <see cref="Numbers"/>) or 2 + an index into <see cref="Texts"/>, the group's distinct texts.
    /// </summary>
    private sealed record InputColumn(int[] Codes, double[]? Numbers, List<string> Texts);

    private static async Task<List<RowGroup>> DecodeAsync(string path, IReadOnlyList<ScanTarget> targets, CancellationToken cancellationToken)
    {
        var source = targets[0].View.Source;
        var anyInclude = targets.Any(t => t.Include is not null);
        var groups = new List<RowGroup>();
        var reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.DataFields;
            DataField Field(string name) => fields.FirstOrDefault(f => f.Name == name)
                ?? throw new InvalidDataException($"{path}: no column '{name}'");
            var keyFields = targets.Select(t => t.View.KeySlots.Select(k => Field(source.Schema.Fields[k].Name)).ToArray()).ToArray();
            var slots = targets.SelectMany(t => t.Events.ColumnSlots).Distinct().ToArray();
            var inputFields = slots.Select(slot => Field(source.Schema.Fields[slot].Name)).ToArray();
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var n = checked((int)group.RowCount);
                var lease = new Lease();
                var text = new TextColumns(group, lease);
                var times = await ReadRequiredAsync<long>(group, Field(EventLogSchema.EventTimeColumn), n, lease, cancellationToken).ConfigureAwait(false);
                var offsets = await ReadRequiredAsync<long>(group, Field(EventLogSchema.OffsetColumn), n, lease, cancellationToken).ConfigureAwait(false);
                var partitions = anyInclude ? await ReadRequiredAsync<int>(group, Field(EventLogSchema.PartitionColumn), n, lease, cancellationToken).ConfigureAwait(false) : null;

                var keys = new Array[]?[targets.Count];
                var entities = new int[]?[targets.Count];
                for (var t = 0; t < targets.Count; t++)
                {
                    (keys[t], entities[t]) = await ReadKeysAsync(group, text, keyFields[t], targets[t], n, lease, times, offsets, partitions, cancellationToken).ConfigureAwait(false);
                }

                // Inputs are converted for rows some target wants (all rows when one numbers entities as it goes).
                int[]? wanted = null;
                if (entities.All(e => e is not null))
                {
                    wanted = lease.Take<int>(n, clear: false);
                    entities[0].AsSpan(0, n).CopyTo(wanted);
                    for (var t = 1; t < targets.Count; t++)
                    {
                        var other = entities[t]!;
                        for (var i = 0; i < n; i++)
                        {
                            wanted[i] = Math.Max(wanted[i], other[i]);
                        }
                    }
                }

                var any = wanted is null || wanted.AsSpan(0, n).ContainsAnyExcept(-1);
                var inputs = new InputColumn[slots.Length];
                for (var c = 0; c < inputs.Length; c++)
                {
                    inputs[c] = any ? await ReadInputAsync(group, text, inputFields[c], n, lease, wanted, cancellationToken).ConfigureAwait(false)
                        : new InputColumn([], null, []);
                }

                var parts = new TargetRows[targets.Count];
                for (var t = 0; t < parts.Length; t++)
                {
                    parts[t] = new TargetRows(keys[t], entities[t], [.. targets[t].Events.ColumnSlots.Select(slot => inputs[Array.IndexOf(slots, slot)])]);
                }

                groups.Add(new RowGroup(n, times, offsets, partitions, parts, lease));
            }
        }

        return groups;
    }

    // A target's keys: with known entities, each row's entity (-1 when not wanted); otherwise the key columns.
    private static async Task<(Array[]? Keys, int[]? Entity)> ReadKeysAsync(
        ParquetRowGroupReader group, TextColumns text, DataField[] keyFields, ScanTarget target, int n, Lease lease, long[] times, long[] offsets,
        int[]? partitions, CancellationToken cancellationToken)
    {
        if (target.Until is not { } until)
        {
            var columns = new Array[keyFields.Length];
            for (var k = 0; k < columns.Length; k++)
            {
                columns[k] = await ParquetColumns.ReadAsync(group, keyFields[k], cancellationToken).ConfigureAwait(false);
            }

            return (columns, null);
        }

        var entity = lease.Take<int>(n, clear: false);
        if (keyFields.Length == 1
            && target.Entities.TryGetAlternateLookup<ReadOnlySpan<char>>(out var byText)
            && await text.ReadAsync(keyFields[0], cancellationToken).ConfigureAwait(false) is { } keyText)
        {
            // One text key: looked up from the decoded characters, no string made per row.
            for (var i = 0; i < n; i++)
            {
                entity[i] = keyText[i] is { } key && byText.TryGetValue(key.Span, out var e) ? e : -1;
            }
        }
        else
        {
            var columns = new Array[keyFields.Length];
            for (var k = 0; k < columns.Length; k++)
            {
                columns[k] = await ParquetColumns.ReadAsync(group, keyFields[k], cancellationToken).ConfigureAwait(false);
            }

            for (var i = 0; i < n; i++)
            {
                entity[i] = Key(columns, i) is { } key && target.Entities.TryGetValue(key, out var e) ? e : -1;
            }
        }

        var include = target.Include;
        for (var i = 0; i < n; i++)
        {
            var e = entity[i];
            if (e >= 0 && (times[i] > until[e] || (include is not null && !include(partitions![i], offsets[i], times[i]))))
            {
                entity[i] = -1;
            }
        }

        return (null, entity);
    }

    // Same conversions as the online job: text for string fields, numbers (bools 0/1, times in ms) otherwise;
    // other types give no input. Only rows wanted (entity not -1) are converted.
    private static async Task<InputColumn> ReadInputAsync(
        ParquetRowGroupReader group, TextColumns textColumns, DataField field, int n, Lease lease, int[]? entity, CancellationToken cancellationToken)
    {
        var codes = lease.Take<int>(n, clear: true);
        var texts = new List<string>();
        if (await textColumns.ReadAsync(field, cancellationToken).ConfigureAwait(false) is { } text)
        {
            // Each distinct text made into a string once per row group (the characters are the decoded page's).
            var ids = new Dictionary<string, int>(StringComparer.Ordinal);
            var byText = ids.GetAlternateLookup<ReadOnlySpan<char>>();
            for (var i = 0; i < n; i++)
            {
                if ((entity is null || entity[i] >= 0) && text[i] is { } value)
                {
                    if (!byText.TryGetValue(value.Span, out var id))
                    {
                        id = texts.Count;
                        var made = value.Span.ToString();
                        texts.Add(made);
                        ids[made] = id;
                    }

                    codes[i] = 2 + id;
                }
            }

            return new InputColumn(codes, null, texts);
        }

        var numbers = lease.Take<double>(n, clear: false);
        Array column;
        if (field.ClrType == typeof(double) && field.IsNullable)
        {
            var doubles = lease.Take<double?>(n, clear: false);
            await group.ReadAsync(field, doubles.AsMemory(0, n), cancellationToken: cancellationToken).ConfigureAwait(false);
            column = doubles;
        }
        else
        {
            column = await ParquetColumns.ReadAsync(group, field, cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < n; i++)
        {
            double? number = column switch
            {
                double?[] d => d[i],
                long?[] l => l[i],
                bool?[] b => b[i] is { } flag ? (flag ? 1 : 0) : null,
                _ => null,
            };
            if (number is { } value && (entity is null || entity[i] >= 0))
            {
                codes[i] = 1;
                numbers[i] = value;
            }
        }

        return new InputColumn(codes, numbers, texts);
    }

    // Adds a target's events of a row group (row i becomes event first + j), then their inputs column by column.
    private static void Append(RowGroup group, TargetRows rows, ScanTarget target, ref int[] taken)
    {
        if (taken.Length < group.Rows)
        {
            taken = new int[group.Rows];
        }

        var events = target.Events;
        var first = events.Count;
        var count = 0;
        var singleText = rows.Keys is { Length: 1 } ? rows.Keys[0] as string?[] : null;
        for (var i = 0; i < group.Rows; i++)
        {
            int entity;
            if (rows.Entity is { } known)
            {
                entity = known[i];
                if (entity < 0)
                {
                    continue;
                }
            }
            else
            {
                // Every entity is wanted, numbered in the order met.
                var key = singleText is null ? Key(rows.Keys!, i) : singleText[i];
                if (key is null)
                {
                    continue;
                }

                if (!target.Entities.TryGetValue(key, out entity))
                {
                    entity = target.Entities.Count;
                    target.Entities[key] = entity;
                }

                if (target.Include is { } include && !include(group.Partitions![i], group.Offsets[i], group.Times[i]))
                {
                    continue;
                }
            }

            events.Add(entity, group.Times[i], group.Offsets[i]);
            taken[count++] = i;
        }

        for (var c = 0; c < rows.Inputs.Length && count > 0; c++)
        {
            var input = rows.Inputs[c];
            var textIds = new int[input.Texts.Count];
            for (var t = 0; t < textIds.Length; t++)
            {
                textIds[t] = events.TextId(input.Texts[t]);
            }

            for (var j = 0; j < count; j++)
            {
                var code = input.Codes[taken[j]];
                if (code == 1)
                {
                    events.SetNumber(first + j, c, input.Numbers![taken[j]]);
                }
                else if (code >= 2)
                {
                    events.SetTextId(first + j, c, textIds[code - 2]);
                }
            }
        }
    }

    /// <summary>
    /// The text columns of one row group, each decoded once however many views read it (one view's key is often
    /// another's input: a payment's merchant). Each value keeps characters of its own, so a column read earlier
    /// stays valid while others are read.
    /// </summary>
    private sealed class TextColumns(ParquetRowGroupReader group, Lease lease)
    {
        private readonly Dictionary<string, ReadOnlyMemory<char>?[]?> _read = new(StringComparer.Ordinal);

        public async Task<ReadOnlyMemory<char>?[]?> ReadAsync(DataField field, CancellationToken cancellationToken)
        {
            var path = field.Path.ToString();
            if (!_read.TryGetValue(path, out var values))
            {
                values = await ParquetColumns.ReadTextAsync(
                    group, field, size => lease.Take<ReadOnlyMemory<char>?>(size, clear: false), size => lease.Take<ReadOnlyMemory<char>>(size, clear: false), cancellationToken)
                    .ConfigureAwait(false);
                _read[path] = values;
            }

            return values;
        }
    }

    // A required column into an array of the lease (a nullable one, rare in a log, is read as ParquetColumns reads it).
    private static async Task<T[]> ReadRequiredAsync<T>(ParquetRowGroupReader group, DataField field, int n, Lease lease, CancellationToken cancellationToken)
        where T : struct
    {
        if (field.IsNullable)
        {
            return await ParquetColumns.ReadRequiredAsync<T>(group, field, cancellationToken).ConfigureAwait(false);
        }

        var values = lease.Take<T>(n, clear: false);
        await group.ReadAsync(field, values.AsMemory(0, n), cancellationToken: cancellationToken).ConfigureAwait(false);
        return values;
    }

    /// <summary>
    /// The arrays of one decoded row group, taken from the shared pool and given back once the group is appended. A
    /// row group's columns are hundreds of KB each, past the large-object threshold: allocated afresh they piled up as
    /// large-object garbage, which only a full collection frees, and set the export's peak resident size.
    /// </summary>
    private sealed class Lease
    {
        private readonly List<Action> _returns = [];

        /// <summary>An array of at least <paramref name="n"/> elements (its first n zeroed when <paramref name="clear"/>).</summary>
        public T[] Take<T>(int n, bool clear)
        {
            var array = ArrayPool<T>.Shared.Rent(Math.Max(n, 1));
            if (clear)
            {
                Array.Clear(array, 0, n);
            }

            lock (_returns)
            {
                _returns.Add(() => ArrayPool<T>.Shared.Return(array, RuntimeHelpers.IsReferenceOrContainsReferences<T>()));
            }

            return array;
        }

        /// <summary>Gives every array back (they must not be used after).</summary>
        public void Return()
        {
            lock (_returns)
            {
                foreach (var give in _returns)
                {
                    give();
                }

                _returns.Clear();
            }
        }
    }

    /// <summary>The entity key of row <paramref name="i"/> (values joined by '|'), or null when a key is missing.</summary>
    public static string? Key(Array[] keyColumns, int i)
    {
        if (keyColumns.Length == 1)
        {
            return KeyPart(keyColumns[0], i);
        }

        var parts = new string[keyColumns.Length];
        for (var k = 0; k < parts.Length; k++)
        {
            if (KeyPart(keyColumns[k], i) is not { } part)
            {
                return null;
            }

            parts[k] = part;
        }

        return string.Join((char)EventParser.KeySeparator, parts);
    }

    private static string? KeyPart(Array column, int i) => column switch
    {
        string?[] s => s[i],
        long?[] l => l[i]?.ToString(CultureInfo.InvariantCulture),
        int?[] n => n[i]?.ToString(CultureInfo.InvariantCulture),
        bool?[] b => b[i] is { } flag ? (flag ? "1" : "0") : null,
        _ => column.GetValue(i) is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : column.GetValue(i)?.ToString(),
    };
}
