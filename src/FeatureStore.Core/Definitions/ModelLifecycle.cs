using FeatureStore.Core.Models;

namespace FeatureStore.Core.Definitions;

/// <summary>What the monitor does when a model's production version degrades persistently (<c>on_degradation:</c>).</summary>
public enum DegradationAction
{
    /// <summary>Alert only, as the monitors always do (the default).</summary>
    Alert,

    /// <summary>Fire the retraining webhook with the evidence.</summary>
    Retrain,

    /// <summary>Archive the production version and make the previous production version production again.</summary>
    Rollback,
}

/// <summary>
/// A model's lifecycle declarations: the gates <c>model promote</c> checks, and the degradation policy the monitor
/// applies to its production version.
/// </summary>
/// <param name="Gates">The promotion gates, in declaration order.</param>
/// <param name="OnDegradation">What a persistent degradation of the production version does.</param>
/// <param name="DegradationWindows">Consecutive breaching windows that make a degradation persistent (at least 1).</param>
public sealed record ModelLifecycle(IReadOnlyList<PromotionGate> Gates, DegradationAction OnDegradation, int DegradationWindows)
{
    /// <summary><c>degradation_windows</c> when none is written.</summary>
    public const int DefaultDegradationWindows = 3;

    /// <summary>No gates, alert only.</summary>
    public static ModelLifecycle None { get; } = new([], DegradationAction.Alert, DefaultDegradationWindows);

    /// <summary>The names of <see cref="DegradationAction"/> as written.</summary>
    public static IReadOnlyList<string> Actions { get; } = ["alert", "retrain", "rollback"];

    /// <summary>The action's name as written.</summary>
    public static string Name(DegradationAction action) => Actions[(int)action];
}
