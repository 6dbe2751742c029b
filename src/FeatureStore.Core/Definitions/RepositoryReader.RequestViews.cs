using FeatureStore.Core.Events;
using FeatureStore.Core.Expressions;
using FeatureStore.Core.Windows;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Definitions;

/// <summary>Request views: typed request context and features computed from it at lookup (docs/request-features.md).</summary>
internal sealed partial class RepositoryReader
{
    private List<RequestViewDefinition> ReadRequestViews(YamlMap top, List<FeatureViewDefinition> views, List<SourceDefinition> sources)
    {
        var result = new List<RequestViewDefinition>();
        var expressions = new List<List<YamlNode>>();
        var names = new UniqueNames(bag, "request view");
        foreach (var item in top.List("request_views", required: false))
        {
            var map = YamlMap.Read(item, bag, "a request view", "name", "context", "features", "description");
            if (map is null)
            {
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            if (name is not null && _viewFeatures.ContainsKey(name))
            {
                bag.Error(nameNode!, "FS0185", $"request view '{name}' has the name of a feature view", "give request views and feature views distinct names: a reference view:feature names one of them");
                name = null;
            }

            var context = map.Has("context") ? ReadFields(map, "context") : [];
            foreach (var field in context.Where(f => _viewFeatures.ContainsKey(f.Name)))
            {
                bag.Error(map.Value("context", false)!, "FS0185", $"context field '{field.Name}' of request view '{name}' has the name of a feature view",
                    $"rename it: {field.Name}.feature in an expression reads a feature of view '{field.Name}'");
            }

            var (features, nodes) = ReadRequestFeatures(map, name ?? "?");
            if (name is not null && features is not null && names.Add(name, nameNode!))
            {
                result.Add(new RequestViewDefinition(name, context, features, map.String("description", false)));
                expressions.Add(nodes);
            }
        }

        // Compiled together: a request-time feature may read another request view's features.
        CompiledRequestView.CompileAll(result, (v, f) => StoredKind(views, sources, v, f), [.. _viewFeatures.Keys], (v, f, error) =>
            bag.Error(At(expressions[v][f], error.Position), error.Code, $"feature '{result[v].Features[f].Name}' of request view '{result[v].Name}': {error.Message}", error.Hint));
        return result;
    }

    private (List<RequestFeatureDefinition>? Features, List<YamlNode> Nodes) ReadRequestFeatures(YamlMap view, string viewName)
    {
        var items = view.List("features", required: true);
        if (view.Has("features") && items.Count == 0)
        {
            bag.Error(view.Node, "FS0004", $"request view '{viewName}' declares no features", "add features: - name: … type: double expression: …");
        }

        var features = new List<RequestFeatureDefinition>();
        var nodes = new List<YamlNode>();
        var names = new UniqueNames(bag, $"feature of '{viewName}'");
        var valid = true;
        foreach (var item in items)
        {
            var map = YamlMap.Read(item, bag, "a request-time feature", "name", "type", "expression", "description");
            if (map is null)
            {
                valid = false;
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            var typeText = map.String("type", true, out var typeNode);
            FieldKind? type = null;
            if (typeText is not null)
            {
                if (typeText is "double" or "int" or "string")
                {
                    type = FeatureRepositoryLoader.FieldKinds[typeText];
                }
                else
                {
                    bag.Error(typeNode!, "FS0181", $"a request-time feature's type is double, int or string, not '{typeText}'",
                        typeText == "bool" ? "write (condition) ? 1 : 0 with type: int" : "write type: double");
                }
            }

            var expression = map.String("expression", true, out var expressionNode);
            if (name is not null && type is not null && expression is not null && names.Add(name, nameNode!))
            {
                features.Add(new RequestFeatureDefinition(name, type.Value, expression));
                nodes.Add(expressionNode!);
            }
            else
            {
                valid = false;
            }
        }

        return (valid ? features : null, nodes);
    }

    // What a stored feature is in an expression: text for `last` of a text field, a number otherwise. A feature
    // declared with errors of its own still resolves (as a number), so it is not reported again.
    private ExpressionKind? StoredKind(List<FeatureViewDefinition> views, List<SourceDefinition> sources, string viewName, string featureName)
    {
        var view = views.FirstOrDefault(v => v.Name == viewName);
        var feature = view?.FindFeature(featureName);
        if (feature is null)
        {
            return _viewFeatures.TryGetValue(viewName, out var declared) && declared.Contains(featureName) ? ExpressionKind.Number : null;
        }

        var field = feature.Field is null ? null : sources.FirstOrDefault(s => s.Name == view!.Source)?.FindField(feature.Field);
        return feature.Aggregation is AggregationKind.LastN or AggregationKind.LastNDistinct or AggregationKind.TopK ? ExpressionKind.List
            : feature.Aggregation == AggregationKind.Last && field?.Kind == FieldKind.String ? ExpressionKind.Text : ExpressionKind.Number;
    }

    // The place of a position in an expression's text: exact on a one-line plain or quoted scalar, else the scalar's start.
    private static Mark At(YamlNode node, int position)
    {
        if (node is YamlScalarNode { Value: { } text } scalar && !text.Contains('\n', StringComparison.Ordinal)
            && scalar.Start.Line == scalar.End.Line && scalar.Style is ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted)
        {
            var quote = scalar.Style == ScalarStyle.Plain ? 0 : 1;
            return new Mark(scalar.Start.Index + quote + position, scalar.Start.Line, scalar.Start.Column + quote + position);
        }

        return node.Start;
    }
}
