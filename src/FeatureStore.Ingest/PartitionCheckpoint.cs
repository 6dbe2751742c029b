namespace FeatureStore.Ingest;

/// <summary>
/// What the online store remembers of one source partition, written in the same transaction as the
/// tiles it covers: the next offset to consume and the partition's watermark at that point, so a
/// restart replays exactly the events not yet applied and judges their lateness the same way.
/// </summary>
/// <param name="NextOffset">The first offset not yet applied.</param>
/// <param name="WatermarkMs">Greatest accepted event time so far (long.MinValue before any).</param>
public readonly record struct PartitionCheckpoint(long NextOffset, long WatermarkMs)
{
    /// <summary>Encodes as <c>offset:watermark</c>.</summary>
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{NextOffset}:{WatermarkMs}");

    /// <summary>Decodes <see cref="ToString"/>'s form.</summary>
    public static PartitionCheckpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new FormatException($"bad checkpoint '{text}'");
        }

        return new PartitionCheckpoint(
            long.Parse(text.AsSpan(0, colon), System.Globalization.CultureInfo.InvariantCulture),
            long.Parse(text.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture));
    }
}
