namespace FeatureStore.Core.Models;

/// <summary>Where a registered model version stands in its lifecycle.</summary>
public enum ModelStage
{
    /// <summary>Registered, not serving production traffic (the stage a version is registered in).</summary>
    Staging,

    /// <summary>The version in production: at most one per model. Its baseline is the monitor's fallback.</summary>
    Production,

    /// <summary>Retired; kept for its history.</summary>
    Archived,
}

/// <summary>One registered version of a model: what it was trained on, what it is compared with, where it stands.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Version">The version label (as predictions carry it in <c>model_version</c>).</param>
/// <param name="Features">The feature references it reads, <c>view:feature</c>.</param>
/// <param name="TrainingExport">The training export it was trained on (a path or URI), if known.</param>
/// <param name="BaselineId">The drift baseline computed from that export, if any.</param>
/// <param name="Stage">Its stage.</param>
/// <param name="RegisteredAtMs">When it was registered (epoch ms).</param>
/// <param name="StageChangedAtMs">When its stage last changed (epoch ms).</param>
public sealed record ModelVersionRecord(
    string Model,
    string Version,
    IReadOnlyList<string> Features,
    string? TrainingExport,
    string? BaselineId,
    ModelStage Stage,
    long RegisteredAtMs,
    long StageChangedAtMs);

/// <summary>The rules of stage changes, apart from any store.</summary>
public static class ModelStages
{
    /// <summary>Parses <c>staging</c>, <c>production</c> or <c>archived</c> (any case).</summary>
    public static bool TryParse(string? text, out ModelStage stage)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case "STAGING":
                stage = ModelStage.Staging;
                return true;
            case "PRODUCTION":
                stage = ModelStage.Production;
                return true;
            case "ARCHIVED":
                stage = ModelStage.Archived;
                return true;
            default:
                stage = default;
                return false;
        }
    }

    /// <summary>The stage's name as written in the store and on the command line.</summary>
    public static string Name(ModelStage stage) => stage switch
    {
        ModelStage.Production => "production",
        ModelStage.Archived => "archived",
        _ => "staging",
    };

    /// <summary>
    /// The records that change when <paramref name="version"/> moves to <paramref name="stage"/>: the version
    /// itself and, when it becomes production, the previous production version, which is archived (a model has
    /// at most one production version). Empty when nothing changes; null when the version is not registered.
    /// </summary>
    public static IReadOnlyList<ModelVersionRecord>? Promote(IReadOnlyCollection<ModelVersionRecord> versions, string version, ModelStage stage, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(versions);
        var target = versions.FirstOrDefault(v => v.Version == version);
        if (target is null)
        {
            return null;
        }

        if (target.Stage == stage)
        {
            return [];
        }

        var changed = new List<ModelVersionRecord> { target with { Stage = stage, StageChangedAtMs = nowMs } };
        if (stage == ModelStage.Production)
        {
            changed.AddRange(versions
                .Where(v => v.Stage == ModelStage.Production && v.Version != version)
                .Select(v => v with { Stage = ModelStage.Archived, StageChangedAtMs = nowMs }));
        }

        return changed;
    }

    /// <summary>
    /// The records that change when the degradation policy rolls <paramref name="degraded"/> back: it is archived and
    /// the latest other version the <paramref name="history"/> shows becoming production (promoted, or restored by a
    /// rollback), still registered and never rolled back itself, becomes production again. Null when <paramref name="degraded"/> is not production any more, or
    /// no earlier production version is left to restore.
    /// </summary>
    public static IReadOnlyList<ModelVersionRecord>? Rollback(IReadOnlyCollection<ModelVersionRecord> versions, IReadOnlyList<StageChange> history, string degraded, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(versions);
        ArgumentNullException.ThrowIfNull(history);
        var current = versions.FirstOrDefault(v => v.Version == degraded);
        if (current is not { Stage: ModelStage.Production })
        {
            return null;
        }

        // Each time a version became production: promoted, or restored by a rollback. A version once rolled back for
        // degrading is never restored automatically.
        var rolledBack = history.Where(c => c.Action == "rollback").Select(c => c.Version).ToHashSet(StringComparer.Ordinal);
        var previous = history
            .Select(c => (c.AtMs, Version: c.Action == "rollback" ? c.Replaced : c.Action == "promote" && c.To == ModelStage.Production ? c.Version : null))
            .Where(p => p.Version is not null && p.Version != degraded && !rolledBack.Contains(p.Version))
            .OrderByDescending(p => p.AtMs)
            .Select(p => versions.FirstOrDefault(v => v.Version == p.Version))
            .FirstOrDefault(v => v is not null);
        return previous is null ? null :
        [
            previous with { Stage = ModelStage.Production, StageChangedAtMs = nowMs },
            current with { Stage = ModelStage.Archived, StageChangedAtMs = nowMs },
        ];
    }
}
