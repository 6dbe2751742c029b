using System.Text.Json.Nodes;

namespace FeatureStore.Core.Definitions;

/// <summary>What a change does to one item.</summary>
public enum ChangeKind
{
    /// <summary>New.</summary>
    Add,

    /// <summary>Gone.</summary>
    Remove,

    /// <summary>Changed in place.</summary>
    Change,
}

/// <summary>One line of a plan: <c>+ feature_view user_txn_stats</c>, <c>~ feature user_txn_stats:amount_sum_1h window_ms 3600000 -> 7200000</c>.</summary>
public sealed record PlannedChange(ChangeKind Kind, string ItemKind, string Name, string? Detail)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{Kind switch { ChangeKind.Add => '+', ChangeKind.Remove => '-', _ => '~' }} {ItemKind} {Name}" + (Detail is null ? "" : " " + Detail);
}

/// <summary>The difference between two versions of a repository, item by item (as Terraform plans).</summary>
public static class RepositoryPlan
{
    /// <summary>The changes from <paramref name="previous"/> (null: nothing applied yet) to <paramref name="next"/>.</summary>
    public static IReadOnlyList<PlannedChange> Compute(FeatureRepository? previous, FeatureRepository next)
    {
        ArgumentNullException.ThrowIfNull(next);
        var before = previous?.ToCanonicalNode() ?? new JsonObject();
        var after = next.ToCanonicalNode();
        var changes = new List<PlannedChange>();
        CompareScalars(changes, "settings", next.Project, before["settings"] as JsonObject, after["settings"] as JsonObject);
        CompareNamed(changes, "entity", "name", before["entities"], after["entities"], null);
        CompareNamed(changes, "source", "name", before["sources"], after["sources"], null);
        CompareNamed(changes, "feature_view", "name", before["feature_views"], after["feature_views"], (view, b, a) =>
            CompareNamed(changes, "feature", "name", b["features"], a["features"], null, view + ":"));
        CompareNamed(changes, "request_view", "name", before["request_views"], after["request_views"], (view, b, a) =>
            CompareNamed(changes, "request_feature", "name", b["features"], a["features"], null, view + ":"));
        CompareNamed(changes, "model", "name", before["models"], after["models"], (model, b, a) =>
        {
            CompareNamed(changes, "model_version", "version", b["versions"], a["versions"], null, model + "@");
            CompareNamed(changes, "monitor", "column", b["monitors"], a["monitors"], null, model + ":");
        });
        CompareNamed(changes, "webhook", "name", before["webhooks"], after["webhooks"], null);
        return changes;
    }

    private static void CompareNamed(List<PlannedChange> changes, string kind, string key, JsonNode? before, JsonNode? after,
        Action<string, JsonObject, JsonObject>? nested, string prefix = "")
    {
        var b = Index(before, key);
        var a = Index(after, key);
        foreach (var (name, item) in a)
        {
            if (!b.TryGetValue(name, out var old))
            {
                changes.Add(new PlannedChange(ChangeKind.Add, kind, prefix + name, null));
                continue;
            }

            foreach (var (property, value) in item)
            {
                var oldValue = old[property];
                if (value is JsonArray && nested is not null && property is "features" or "versions" or "monitors")
                {
                    continue; // compared item by item below
                }

                if (!JsonNode.DeepEquals(value, oldValue))
                {
                    changes.Add(new PlannedChange(ChangeKind.Change, kind, prefix + name, $"{property} {Show(oldValue)} -> {Show(value)}"));
                }
            }

            nested?.Invoke(name, old, item);
        }

        foreach (var name in b.Keys.Where(n => !a.ContainsKey(n)))
        {
            changes.Add(new PlannedChange(ChangeKind.Remove, kind, prefix + name, null));
        }
    }

    private static void CompareScalars(List<PlannedChange> changes, string kind, string name, JsonObject? before, JsonObject? after)
    {
        if (before is null || after is null)
        {
            return;
        }

        foreach (var (property, value) in after)
        {
            if (!JsonNode.DeepEquals(value, before[property]))
            {
                changes.Add(new PlannedChange(ChangeKind.Change, kind, name, $"{property} {Show(before[property])} -> {Show(value)}"));
            }
        }
    }

    private static Dictionary<string, JsonObject> Index(JsonNode? array, string key) =>
        (array as JsonArray ?? []).OfType<JsonObject>().ToDictionary(o => o[key]!.GetValue<string>(), StringComparer.Ordinal);

    private static string Show(JsonNode? node) => node is null ? "none" : node.ToJsonString();
}
