// A model's lifecycle: gates:, on_degradation: and degradation_windows:.
using FeatureStore.Core.Models;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Definitions;

internal sealed partial class RepositoryReader
{
    /// <summary>The most gates one model may declare: each is checked at every promotion.</summary>
    internal const int MaxGates = 100;

    private ModelLifecycle? ReadLifecycle(YamlMap model, List<MonitorDefinition> monitors)
    {
        if (!model.Has("gates") && !model.Has("on_degradation") && !model.Has("degradation_windows"))
        {
            return null; // as before lifecycles could be declared
        }

        var gates = new List<PromotionGate>();
        var items = model.List("gates", required: false);
        if (items.Count > MaxGates)
        {
            bag.Error(model.Value("gates", false)!, "FS0152", $"{items.Count} gates are more than {MaxGates}", $"keep at most {MaxGates} gates");
        }

        foreach (var item in items.Take(MaxGates))
        {
            if (item is not YamlScalarNode { Value: { Length: > 0 } text } scalar)
            {
                bag.Error(item, "FS0150", "a gate is one line of text", "write - roc_auc >= 0.85");
                continue;
            }

            if (Gates.Parse(text, out var error) is not { } gate)
            {
                // Plain scalars start at their first character; quoted ones one further.
                var shift = scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted ? 1 : 0;
                var start = scalar.Start;
                bag.Error(new Mark(start.Index + error!.Offset + shift, start.Line, start.Column + error.Offset + shift), error.Code, error.Message, error.Hint);
                continue;
            }

            if (gate.Kind == GateKind.Psi && !monitors.Any(m => m.Column == gate.Subject))
            {
                // The production baseline holds bins for the monitored columns only.
                bag.Error(scalar, "FS0153", $"psi({gate.Subject}) names no monitored column of the model",
                    Known("monitored columns", monitors.Select(m => m.Column), gate.Subject) + "; the production baseline has bins for those alone");
                continue;
            }

            gates.Add(gate);
        }

        var action = DegradationAction.Alert;
        if (model.String("on_degradation", false, out var actionNode) is { } written)
        {
            var index = ModelLifecycle.Actions.ToList().IndexOf(written);
            if (index < 0)
            {
                var closest = YamlMap.Closest(written, ModelLifecycle.Actions);
                bag.Error(actionNode!, "FS0154", $"unknown on_degradation '{written}'", closest is null ? "write alert, retrain or rollback" : $"did you mean '{closest}'?");
            }
            else
            {
                action = (DegradationAction)index;
            }
        }

        var windows = model.Integer("degradation_windows", 1, out var windowsNode);
        if (windows > 1000)
        {
            bag.Error(windowsNode!, "FS0155", $"degradation_windows {windows} is more than 1000", "write how many consecutive breaching windows make a degradation persistent, e.g. degradation_windows: 3");
        }

        return new ModelLifecycle(gates, action, (int)Math.Min(windows ?? ModelLifecycle.DefaultDegradationWindows, 1000));
    }
}
