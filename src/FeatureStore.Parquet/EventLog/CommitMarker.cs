using System.Text.Json;

namespace FeatureStore.Parquet.EventLog;

/// <summary>
/// The record of one committed batch of one source partition: the offsets it covers
/// (<c>[FirstOffset, NextOffset)</c>), the partition's lateness watermark after it, and the data files it
/// added (relative to the source's folder). Its name carries the partition and first offset, and it is
/// created without overwriting: only one writer can commit a batch starting at a given offset.
/// A compaction writes markers of generation 1 and up (<c>pPPPP-FIRST-gGGGGGG.json</c>) that cover the
/// ranges of several earlier ones; which markers readers see is decided by <see cref="EventLogReader.Visible"/>.
/// The archiver's markers also name the Kafka topic incarnation the batch was read from and the base added
/// to its Kafka offsets (<c>incarnation</c>, <c>offset_base</c>): the log's offsets go on increasing across a
/// topic recreated or a cluster replaced, whose Kafka offsets start again at 0.
/// An imported history is one batch of the pseudo-partition <see cref="HistoryPartition"/> (no Kafka
/// partition is negative), whose offsets number the imported rows; its marker names the import
/// (<c>import_id</c>) and the cut-over it was imported with (<c>cutover_ms</c>).
/// </summary>
internal sealed record CommitMarker(
    int Partition, long FirstOffset, long NextOffset, long WatermarkMs, long Rows, IReadOnlyList<string> Files, int Generation = 0, string? Incarnation = null, long OffsetBase = 0,
    string? ImportId = null, long? CutoverMs = null)
{
    /// <summary>The partition of imported history in the log: never a Kafka partition, so never an archiver's.</summary>
    public const int HistoryPartition = -1;

    public const string Folder = "_commits";

    public static string FileName(int partition, long firstOffset) =>
        FormattableString.Invariant($"p{partition:D4}-{firstOffset:D19}.json");

    public static string FileName(int partition, long firstOffset, int generation) => generation == 0
        ? FileName(partition, firstOffset)
        : FormattableString.Invariant($"p{partition:D4}-{firstOffset:D19}-g{generation:D6}.json");

    public byte[] Serialize()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("partition", Partition);
            w.WriteNumber("first_offset", FirstOffset);
            w.WriteNumber("next_offset", NextOffset);
            w.WriteNumber("watermark_ms", WatermarkMs);
            w.WriteNumber("rows", Rows);
            w.WriteStartArray("files");
            foreach (var file in Files)
            {
                w.WriteStringValue(file);
            }

            w.WriteEndArray();
            if (Generation != 0)
            {
                w.WriteNumber("generation", Generation);
            }

            if (Incarnation is not null)
            {
                w.WriteString("incarnation", Incarnation);
            }

            if (OffsetBase != 0)
            {
                w.WriteNumber("offset_base", OffsetBase);
            }

            if (ImportId is not null)
            {
                w.WriteString("import_id", ImportId);
            }

            if (CutoverMs is { } cutover)
            {
                w.WriteNumber("cutover_ms", cutover);
            }

            w.WriteEndObject();
        }

        return stream.ToArray();
    }

    public static CommitMarker Parse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        return new CommitMarker(
            root.GetProperty("partition").GetInt32(),
            root.GetProperty("first_offset").GetInt64(),
            root.GetProperty("next_offset").GetInt64(),
            root.GetProperty("watermark_ms").GetInt64(),
            root.GetProperty("rows").GetInt64(),
            [.. root.GetProperty("files").EnumerateArray().Select(f => f.GetString()!)],
            root.TryGetProperty("generation", out var generation) ? generation.GetInt32() : 0,
            root.TryGetProperty("incarnation", out var incarnation) ? incarnation.GetString() : null,
            root.TryGetProperty("offset_base", out var offsetBase) ? offsetBase.GetInt64() : 0,
            root.TryGetProperty("import_id", out var importId) ? importId.GetString() : null,
            root.TryGetProperty("cutover_ms", out var cutover) ? cutover.GetInt64() : null);
    }
}
