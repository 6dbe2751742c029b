using System.Globalization;

namespace FeatureStore.Ingest;

/// <summary>
/// What the online store remembers of one source partition, written in the same transaction as the
/// tiles it covers: the next offset to consume and the partition's watermark at that point, so a
/// restart replays exactly the events not yet applied and judges their lateness the same way; and which
/// incarnation of the topic those offsets count in (see <see cref="Kafka.TopicIncarnation"/>), with the
/// base added to its offsets to order its events after those of the incarnations before it.
/// </summary>
/// <param name="NextOffset">The first offset not yet applied, in the topic's incarnation.</param>
/// <param name="WatermarkMs">Greatest accepted event time so far (long.MinValue before any).</param>
/// <param name="Incarnation">The topic's incarnation, <c>CLUSTER/TOPIC</c>; null when unknown.</param>
/// <param name="OffsetBase">Added to this incarnation's offsets where the log order counts (0 for the first one).</param>
public readonly record struct PartitionCheckpoint(long NextOffset, long WatermarkMs, string? Incarnation = null, long OffsetBase = 0)
{
    /// <summary>Encodes as <c>offset:watermark</c>, then <c>:base:incarnation</c> when either is set.</summary>
    public override string ToString() => Incarnation is null && OffsetBase == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{NextOffset}:{WatermarkMs}")
        : string.Create(CultureInfo.InvariantCulture, $"{NextOffset}:{WatermarkMs}:{OffsetBase}:{Incarnation ?? ""}");

    /// <summary>Decodes <see cref="ToString"/>'s form.</summary>
    public static PartitionCheckpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':', 4);
        if (parts.Length is not (2 or 4) || !long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var next)
            || !long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var watermark))
        {
            throw new FormatException($"bad checkpoint '{text}'");
        }

        if (parts.Length == 2)
        {
            return new PartitionCheckpoint(next, watermark);
        }

        return long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var offsetBase)
            ? new PartitionCheckpoint(next, watermark, parts[3].Length == 0 ? null : parts[3], offsetBase)
            : throw new FormatException($"bad checkpoint '{text}'");
    }
}
