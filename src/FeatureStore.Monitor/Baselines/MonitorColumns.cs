using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Monitor.Baselines;

/// <summary>How monitored columns are named in tables and events, which kind they are, and which threshold a method uses.</summary>
public static class MonitorColumns
{
    /// <summary>
    /// The column's name in a training export and in prediction events: <c>view__feature</c> for a
    /// <c>view:feature</c> reference (the export's naming), the field's own name otherwise.
    /// </summary>
    public static string TableName(string column) => column.Replace(":", "__", StringComparison.Ordinal);

    /// <summary>
    /// The kind the repository declares for <paramref name="column"/>: a prediction field by its type (int and
    /// double numeric, string and bool categorical); a feature numeric, except <c>last</c> of a text or boolean
    /// field (known only with <paramref name="repository"/>). Null when the repository does not say.
    /// </summary>
    internal static ColumnKind? DeclaredKind(ModelDefinition model, string column, FeatureRepository? repository)
    {
        if (model.Prediction.Fields.FirstOrDefault(f => f.Name == column) is { } field)
        {
            return field.Kind switch
            {
                FieldKind.Int or FieldKind.Double => ColumnKind.Numeric,
                FieldKind.String or FieldKind.Bool => ColumnKind.Categorical,
                _ => null,
            };
        }

        var colon = column.IndexOf(':', StringComparison.Ordinal);
        if (repository?.RequestViews.FirstOrDefault(r => colon > 0 && r.Name == column[..colon]) is { } request
            && request.IndexOf(column[(colon + 1)..]) is var at and >= 0)
        {
            // A request-time feature: a number (int, double) or a text.
            return request.Features[at].Type == FieldKind.String ? ColumnKind.Categorical : ColumnKind.Numeric;
        }

        if (repository is null || colon < 0 || repository.FindView(column[..colon]) is not { } view || view.FindFeature(column[(colon + 1)..]) is not { } feature)
        {
            return null;
        }

        if (AggregationKinds.IsCollection(feature.Aggregation))
        {
            return null; // a list or counts: validation refuses a monitor on one (FS0189)
        }

        if (feature.Aggregation != AggregationKind.Last)
        {
            return ColumnKind.Numeric;
        }

        return repository.FindSource(view.Source)?.FindField(feature.Field!)?.Kind switch
        {
            FieldKind.Int or FieldKind.Double => ColumnKind.Numeric,
            FieldKind.String or FieldKind.Bool => ColumnKind.Categorical,
            _ => null,
        };
    }

    /// <summary>
    /// The threshold of <paramref name="method"/>: as written in the monitor, else the one learned from
    /// the training data when the monitor asks for it (<c>threshold: learned</c>, or
    /// <paramref name="useLearned"/> for every method without a threshold), else the method's default.
    /// </summary>
    public static double Threshold(MonitorMethod method, ColumnBaseline? baseline, bool useLearned)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Threshold is { } written)
        {
            return written;
        }

        if ((useLearned || method.Learned) && baseline is not null && baseline.LearnedThresholds.TryGetValue(method.Name, out var learned))
        {
            return learned;
        }

        return DriftDefaults.Threshold(DriftDefaults.Parse(method.Name));
    }
}
