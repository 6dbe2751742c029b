namespace FeatureStore.Core.Models;

/// <summary>
/// One entry of a model's stage history: a version's stage change (a promotion by <c>model promote</c>, or the
/// degradation policy's rollback) or a retraining request of the policy, with the gates checked and why.
/// </summary>
/// <param name="Model">The model.</param>
/// <param name="Version">The version whose stage changed (for a retraining request: the degraded version).</param>
/// <param name="Action"><c>promote</c>, <c>rollback</c> or <c>retrain</c>.</param>
/// <param name="From">Its stage before, or null when it was not registered.</param>
/// <param name="To">Its stage after.</param>
/// <param name="AtMs">When (epoch ms).</param>
/// <param name="Actor"><c>cli</c> for a person at the command line or the API, <c>policy</c> for the degradation policy.</param>
/// <param name="Gates">The gates checked, with their values and verdicts (empty when none were).</param>
/// <param name="Forced">True when a failing gate was overridden with <c>--force</c>.</param>
/// <param name="Reason">The reason given with <c>--force</c>, or the policy's evidence.</param>
/// <param name="Replaced">The production version this change archived, or the one a rollback restored; null when none.</param>
public sealed record StageChange(
    string Model,
    string Version,
    string Action,
    ModelStage? From,
    ModelStage To,
    long AtMs,
    string Actor,
    IReadOnlyList<GateResult> Gates,
    bool Forced,
    string? Reason,
    string? Replaced)
{
    /// <summary>The actor of a person's change.</summary>
    public const string Cli = "cli";

    /// <summary>The actor of the degradation policy.</summary>
    public const string Policy = "policy";
}

/// <summary>Who asks for a stage change and why: recorded with it in the history.</summary>
/// <param name="Actor"><see cref="StageChange.Cli"/> or <see cref="StageChange.Policy"/>.</param>
/// <param name="Gates">The gates checked.</param>
/// <param name="Forced">True when failing gates were overridden.</param>
/// <param name="Reason">The reason, or null.</param>
public sealed record StageNote(string Actor, IReadOnlyList<GateResult> Gates, bool Forced, string? Reason)
{
    /// <summary>A person's change with no gates.</summary>
    public static StageNote Plain { get; } = new(StageChange.Cli, [], false, null);
}
