using System.Globalization;

namespace FeatureStore.Ingest;

/// <summary>
/// What an ingest member owns and how far behind it is, for a progress line: the lag is known only once every
/// owned partition has one (after its first fetch, or its first batch written); before that it is unknown,
/// never 0.
/// </summary>
/// <param name="Assigned">Partitions owned.</param>
/// <param name="LagKnown">Owned partitions whose lag is known.</param>
/// <param name="Lag">Messages behind the partitions' ends, summed over those whose lag is known.</param>
public sealed record IngestProgress(int Assigned, int LagKnown, long Lag)
{
    /// <summary>Before any partition is assigned.</summary>
    public static IngestProgress Unassigned { get; } = new(0, 0, 0);

    /// <summary>
    /// The progress line: <c>ingest: N events applied (R/s)[, P of them replayed], D dead-lettered[, A read again
    /// after a failed write], lag L</c>, the lag given as <c>?</c> with why while it is not known.
    /// </summary>
    public string Line(long applied, double ratePerSecond, long deadLettered, long replayed, long readAgain)
    {
        var lag = Assigned == 0 ? "lag ? (no partition assigned yet)"
            : LagKnown < Assigned ? string.Create(CultureInfo.InvariantCulture, $"lag ? (catching up: {LagKnown} of {Assigned} partitions measured)")
            : string.Create(CultureInfo.InvariantCulture, $"lag {Lag}");
        var replays = replayed > 0 ? string.Create(CultureInfo.InvariantCulture, $", {replayed} of them replayed (applied before, their checkpoints lost with the online store)") : "";
        var again = readAgain > 0 ? string.Create(CultureInfo.InvariantCulture, $", {readAgain} read again after a failed write") : "";
        return string.Create(CultureInfo.InvariantCulture, $"ingest: {applied} events applied ({ratePerSecond:0}/s){replays}, {deadLettered} dead-lettered{again}, {lag}");
    }
}
