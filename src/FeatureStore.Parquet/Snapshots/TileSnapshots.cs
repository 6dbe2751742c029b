using System.Globalization;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Parquet.Snapshots;

/// <summary>
/// Backfilled tile snapshots of a view: per day boundary <c>B</c>, every entity's <see cref="ViewWindowState"/>
/// holding its events before <c>B</c>, compacted for queries from <c>B</c> on, serialized. Layout:
/// <c>snapshots/VIEW/SIGNATURE/until=YYYY-MM-DD.parquet</c> (columns <c>entity</c>, <c>state</c>) and a
/// <c>.json</c> beside it written last, which makes the snapshot visible and records what it covers:
/// from the event log, the next offset of each partition read (events with a smaller offset and a time
/// before <c>B</c> are in it); from an events file, every event before <c>B</c>.
/// </summary>
internal static class TileSnapshots
{
    public static string Folder(string root, CompiledView view) => Path.Combine(root, "snapshots", view.Name, view.Signature);

    public static string Name(long untilMs) =>
        "until=" + DateTimeOffset.FromUnixTimeMilliseconds(untilMs).UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public static async Task WriteAsync(string root, CompiledView view, long untilMs, IReadOnlyDictionary<int, long>? covered,
        IReadOnlyList<string> entities, IReadOnlyList<byte[]> states, CancellationToken cancellationToken)
    {
        var folder = Folder(root, view);
        Directory.CreateDirectory(folder);
        var name = Name(untilMs);
        var entity = new DataField<string>("entity", nullable: false);
        var state = new DataField<byte[]>("state", nullable: false);
        var temp = Path.Combine(folder, ".tmp-" + Guid.NewGuid().ToString("N")[..8] + ".parquet");
        await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
        {
            await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(entity, state), stream, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(entity, entities.ToArray()).ConfigureAwait(false);
                await group.WriteAsync(state, states.ToArray()).ConfigureAwait(false);
            }

            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, Path.Combine(folder, name + ".parquet"), overwrite: true);
        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            w.WriteNumber("until_ms", untilMs);
            w.WriteNumber("entities", entities.Count);
            if (covered is null)
            {
                w.WriteString("from", "file");
            }
            else
            {
                w.WriteString("from", "log");
                w.WriteStartObject("covered");
                foreach (var (partition, next) in covered.OrderBy(kv => kv.Key))
                {
                    w.WriteNumber(partition.ToString(CultureInfo.InvariantCulture), next);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        var jsonTemp = Path.Combine(folder, ".tmp-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        await File.WriteAllBytesAsync(jsonTemp, json.ToArray(), cancellationToken).ConfigureAwait(false);
        File.Move(jsonTemp, Path.Combine(folder, name + ".json"), overwrite: true);
    }

    /// <summary>The latest snapshot of <paramref name="view"/> at or before <paramref name="fromMs"/>, for the given entities; null when none.</summary>
    public static async Task<LoadedSnapshot?> LoadLatestAsync(string root, CompiledView view, long fromMs, IReadOnlyDictionary<string, int> entities, CancellationToken cancellationToken)
    {
        var folder = Folder(root, view);
        if (!Directory.Exists(folder))
        {
            return null;
        }

        (long Until, string Json)? best = null;
        foreach (var path in Directory.EnumerateFiles(folder, "until=*.json"))
        {
            using var doc = JsonDocument.Parse(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false));
            var until = doc.RootElement.GetProperty("until_ms").GetInt64();
            if (until <= fromMs && (best is null || until > best.Value.Until))
            {
                best = (until, path);
            }
        }

        if (best is not { } chosen)
        {
            return null;
        }

        Dictionary<int, long>? covered = null;
        using (var doc = JsonDocument.Parse(await File.ReadAllBytesAsync(chosen.Json, cancellationToken).ConfigureAwait(false)))
        {
            if (doc.RootElement.TryGetProperty("covered", out var c))
            {
                covered = c.EnumerateObject().ToDictionary(p => int.Parse(p.Name, CultureInfo.InvariantCulture), p => p.Value.GetInt64());
            }
        }

        var states = new byte[]?[entities.Count];
        var reader = await ParquetReader.CreateAsync(Path.ChangeExtension(chosen.Json, ".parquet"), cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.DataFields;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var n = (int)group.RowCount;
                var keys = new string?[n];
                var blobs = new byte[]?[n];
                await group.ReadAsync(fields[0], keys.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
                await group.ReadAsync(fields[1], blobs.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < n; i++)
                {
                    if (keys[i] is { } key && entities.TryGetValue(key, out var e))
                    {
                        states[e] = blobs[i];
                    }
                }
            }
        }

        return new LoadedSnapshot(view, chosen.Until, covered, states);
    }
}

/// <summary>A snapshot loaded for an export's entities.</summary>
internal sealed class LoadedSnapshot(CompiledView view, long untilMs, IReadOnlyDictionary<int, long>? covered, byte[]?[] states)
{
    public long UntilMs { get; } = untilMs;

    /// <summary>A fresh state for entity <paramref name="entity"/> from the snapshot, or null when it had no event before it.</summary>
    public ViewWindowState? StateOf(int entity) =>
        states[entity] is { } blob ? ViewWindowState.ReadFrom(blob, view.Features, view.TtlMs) : null;

    /// <summary>True for a log event the snapshot does not hold (so it must be replayed).</summary>
    public bool NotCovered(int partition, long offset, long time) =>
        time >= UntilMs || (covered is not null && (!covered.TryGetValue(partition, out var next) || offset >= next));
}
