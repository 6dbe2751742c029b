using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Expressions;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.Export;

/// <summary>
/// The request-time features of one request view an export computes (indexes into the view's features), from
/// the entity table's columns named as its context fields and the stored features it reads, with the same
/// compiled expressions as the online lookup (<see cref="CompiledRequestView.Evaluate"/>).
/// </summary>
/// <param name="View">The request view, compiled.</param>
/// <param name="Features">Indexes of the selected features, in output order.</param>
public sealed record RequestSelection(CompiledRequestView View, IReadOnlyList<int> Features)
{
    /// <summary>The stored features the view reads, in the order of <see cref="CompiledRequestView.Dependencies"/>.</summary>
    public IReadOnlyList<(CompiledView View, int Feature)> Reads { get; init; } = [];

    /// <summary>The selection of <paramref name="features"/> of <paramref name="view"/>, its stored features resolved in <paramref name="repository"/>.</summary>
    public static RequestSelection Of(CompiledRepository repository, CompiledRequestView view, IReadOnlyList<int> features)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(view);
        return new RequestSelection(view, features)
        {
            Reads = [.. view.Dependencies.Select(d => repository.FindView(d.View) is { } stored ? (stored, stored.IndexOf(d.Feature))
                : throw new InvalidOperationException($"request view '{view.Name}' reads '{d.View}.{d.Feature}', which the repository lacks"))],
        };
    }

    /// <summary>The output column of a selected feature: <c>view__feature</c>.</summary>
    public string ColumnName(int feature) => View.Name + "__" + View.Definition.Features[feature].Name;

    /// <summary>
    /// Splits feature references into stored and request-time ones: the stored ones as <see cref="FeatureSelection.Parse"/>
    /// reads them, the request-time ones (<c>request_view:feature</c> or <c>request_view</c>) grouped by view.
    /// </summary>
    public static (IReadOnlyList<FeatureSelection> Stored, IReadOnlyList<RequestSelection> Requests) Parse(CompiledRepository repository, IEnumerable<string> references)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(references);
        var stored = new List<string>();
        var byView = new Dictionary<CompiledRequestView, List<int>>();
        foreach (var raw in references.SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var colon = raw.IndexOf(':', StringComparison.Ordinal);
            var view = repository.FindRequestView(colon < 0 ? raw : raw[..colon]);
            if (view is null)
            {
                stored.Add(raw);
                continue;
            }

            var list = byView.TryGetValue(view, out var found) ? found : byView[view] = [];
            var indexes = colon < 0 ? Enumerable.Range(0, view.Definition.Features.Count)
                : [view.Definition.IndexOf(raw[(colon + 1)..]) is var i and >= 0 ? i
                    : throw new ArgumentException($"request view '{view.Name}' has no feature '{raw[(colon + 1)..]}' (features: {string.Join(", ", view.Definition.Features.Select(f => f.Name))})")];
            list.AddRange(indexes.Where(i => !list.Contains(i)));
        }

        var requests = byView.Select(p => Of(repository, p.Key, p.Value)).ToList();
        return (stored.Count == 0 && requests.Count > 0 ? [] : FeatureSelection.Parse(repository, stored), requests);
    }

    /// <summary>An output column for a selected feature by its declared type.</summary>
    internal Array NewColumn(int feature, int rows) => View.Definition.Features[feature].Type switch
    {
        FieldKind.Int => new long?[rows],
        FieldKind.String => new string?[rows],
        _ => new double?[rows],
    };

    /// <summary>
    /// The request context of every row, read from the entity table's columns named as the view's context fields
    /// (row by row, in the order of the fields); an empty cell is null.
    /// </summary>
    internal ContextValue[] ReadContext(Table table, string file)
    {
        var fields = View.Context;
        var values = new ContextValue[table.RowCount * fields.Count];
        for (var f = 0; f < fields.Count; f++)
        {
            var field = fields[f];
            var column = table.Find(field.Name)
                ?? throw new TableFileException($"{file}: no '{field.Name}' column, a request context field of request view {View.Name} (columns: {string.Join(", ", table.Columns.Select(c => c.Name))})");
            for (var r = 0; r < table.RowCount; r++)
            {
                values[(r * fields.Count) + f] = Cell(column, r, field, file);
            }
        }

        return values;
    }

    private static ContextValue Cell(TableColumn column, int row, FieldDefinition field, string file)
    {
        var cell = column[row];
        if (cell is null)
        {
            return ContextValue.Null;
        }

        ContextValue? value = (field.Kind, cell) switch
        {
            (FieldKind.Double or FieldKind.Int, double d) => ContextValue.Of(d),
            (FieldKind.Double or FieldKind.Int, float d) => ContextValue.Of(d),
            (FieldKind.Double or FieldKind.Int, long l) => ContextValue.Of(l),
            (FieldKind.Double or FieldKind.Int, int i) => ContextValue.Of(i),
            (FieldKind.Double or FieldKind.Int, string s) when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => ContextValue.Of(d),
            (FieldKind.String, string s) => ContextValue.Of(s),
            (FieldKind.String, long or int) => ContextValue.Of(Convert.ToString(cell, CultureInfo.InvariantCulture)!),
            (FieldKind.Bool, bool b) => ContextValue.Of(b),
            (FieldKind.Bool, string s) when bool.TryParse(s, out var b) => ContextValue.Of(b),
            (FieldKind.Timestamp, long l) => ContextValue.Instant(l),
            (FieldKind.Timestamp, int i) => ContextValue.Instant(i),
            (FieldKind.Timestamp, DateTime t) => ContextValue.Instant(new DateTimeOffset(DateTime.SpecifyKind(t, t.Kind == DateTimeKind.Local ? DateTimeKind.Local : DateTimeKind.Utc)).ToUnixTimeMilliseconds()),
            (FieldKind.Timestamp, DateTimeOffset o) => ContextValue.Instant(o.ToUnixTimeMilliseconds()),
            (FieldKind.Timestamp, string s) when EntityTimestamps.TryParse(s, TimestampUnit.Milliseconds, out var ms, out _) => ContextValue.Instant(ms),
            _ => null,
        };
        return value ?? throw new TableFileException(
            $"{file}: row {row + 1}, column {column.Name}: {Convert.ToString(cell, CultureInfo.InvariantCulture)} is not a {field.Kind.ToString().ToLowerInvariant()} (request context of request view)");
    }

    /// <summary>Evaluates the selected features of every row into <paramref name="outputs"/>, from each row's stored values in <paramref name="kept"/> (one array per dependency).</summary>
    internal void Evaluate(ContextValue[] context, FeatureValue[][] kept, Array[] outputs, int rows)
    {
        var width = View.Context.Count;
        var inputs = new FeatureValue[kept.Length];
        var results = new FeatureValue[View.Definition.Features.Count];
        for (var r = 0; r < rows; r++)
        {
            for (var d = 0; d < kept.Length; d++)
            {
                inputs[d] = kept[d][r];
            }

            View.Evaluate(inputs, context.AsSpan(r * width, width), results);
            for (var s = 0; s < Features.Count; s++)
            {
                PointInTimeJoin.Store(outputs[s], r, results[Features[s]]);
            }
        }
    }
}
