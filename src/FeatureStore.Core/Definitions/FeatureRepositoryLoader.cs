using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Definitions;

/// <summary>
/// Reads and validates a feature repository file. Every problem is reported at once, each with its line,
/// column and a hint; a file with any error yields no repository, so nothing is ever half-applied.
/// </summary>
public static class FeatureRepositoryLoader
{
    /// <summary>The aggregation names the file may use.</summary>
    public static IReadOnlyDictionary<string, AggregationKind> Aggregations { get; } = new Dictionary<string, AggregationKind>(StringComparer.Ordinal)
    {
        ["count"] = AggregationKind.Count,
        ["sum"] = AggregationKind.Sum,
        ["mean"] = AggregationKind.Mean,
        ["min"] = AggregationKind.Min,
        ["max"] = AggregationKind.Max,
        ["last"] = AggregationKind.Last,
        ["stddev"] = AggregationKind.StdDev,
        ["approx_distinct"] = AggregationKind.ApproxDistinct,
        ["percentile"] = AggregationKind.Percentile,
        ["last_n"] = AggregationKind.LastN,
        ["last_n_distinct"] = AggregationKind.LastNDistinct,
        ["top_k"] = AggregationKind.TopK,
    };

    /// <summary>The field type names the file may use.</summary>
    public static IReadOnlyDictionary<string, FieldKind> FieldKinds { get; } = new Dictionary<string, FieldKind>(StringComparer.Ordinal)
    {
        ["string"] = FieldKind.String,
        ["int"] = FieldKind.Int,
        ["double"] = FieldKind.Double,
        ["bool"] = FieldKind.Bool,
        ["timestamp"] = FieldKind.Timestamp,
    };

    /// <summary>The drift methods a monitor may use.</summary>
    public static IReadOnlyList<string> MonitorMethods { get; } = ["psi", "ks", "js", "wasserstein", "chi2", "hellinger"];

    /// <summary>Loads <paramref name="path"/>; an unreadable file throws <see cref="IOException"/>.</summary>
    public static LoadResult Load(string path)
    {
        var text = File.ReadAllText(path);
        return LoadFromText(text, path);
    }

    /// <summary>Loads a repository from its text; <paramref name="fileName"/> is used in diagnostics.</summary>
    public static LoadResult LoadFromText(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bag = new DiagnosticBag(fileName);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            bag.Error(ex.Start, "FS0001", "not valid YAML: " + FirstLine(ex.Message), "check indentation, colons and quotes around this point");
            return new LoadResult(null, bag.Items, text);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet fails this way on some malformed input instead of with a YamlException (found by
            // fuzzing: its scanner, and its node loader), without a position: the text is read again event by
            // event to find where it stops.
            var problem = YamlErrors.Locate(text);
            bag.Error(new Mark(0, problem.Line, problem.Column), "FS0001", "not valid YAML: " + problem.Message, problem.Hint);
            return new LoadResult(null, bag.Items, text);
        }

        if (stream.Documents.Count != 1)
        {
            bag.Error(new Mark(), "FS0001", stream.Documents.Count == 0 ? "the file is empty" : "the file holds more than one YAML document", "keep one repository per file");
            return new LoadResult(null, bag.Items, text);
        }

        var repository = new RepositoryReader(bag).Read(stream.Documents[0].RootNode);
        var ordered = bag.Items.OrderBy(d => d.Line).ThenBy(d => d.Column).ToList();
        return new LoadResult(bag.HasErrors ? null : repository, ordered, text);
    }

    private static string FirstLine(string message)
    {
        var text = message.Split('\n')[0].Trim();
        var paren = text.IndexOf("): ", StringComparison.Ordinal);
        return paren >= 0 && text.StartsWith('(') ? text[(paren + 3)..] : text;
    }
}
