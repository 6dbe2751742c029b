using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlEvents = YamlDotNet.Core.Events;

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
            var (at, message, hint) = Locate(text);
            bag.Error(at, "FS0001", "not valid YAML: " + message, hint);
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

    // Where the YAML reader stops on text it fails without a position: inside a '[' or '{' never closed (an
    // unclosed bracket swallows the lines after it until something cannot be read), its opening; else the
    // scanner's position when it failed; else (the events read, the node loader failed) the file's start.
    private static (Mark At, string Message, string Hint) Locate(string text)
    {
        var scanner = new Scanner(new StringReader(text), skipComments: true);
        var parser = new Parser(scanner);
        var open = new Stack<(bool Flow, Mark Start, char Bracket)>();
        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case YamlEvents.SequenceStart start:
                        open.Push((start.Style == YamlEvents.SequenceStyle.Flow, start.Start, '['));
                        break;
                    case YamlEvents.MappingStart start:
                        open.Push((start.Style == YamlEvents.MappingStyle.Flow, start.Start, '{'));
                        break;
                    case YamlEvents.SequenceEnd or YamlEvents.MappingEnd when open.Count > 0:
                        open.Pop();
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or YamlException)
        {
            foreach (var (flow, start, bracket) in open)
            {
                if (flow)
                {
                    var close = bracket == '[' ? ']' : '}';
                    return (start, $"the '{bracket}' here is never closed (the YAML reader stopped at line {scanner.CurrentPosition.Line}, column {scanner.CurrentPosition.Column})",
                        $"close it with '{close}' on this line");
                }
            }

            return (scanner.CurrentPosition, "the YAML reader could not read on from here", "check indentation, colons and quotes, and that every quoted scalar is closed");
        }

        return (new Mark(), "the YAML reader could not load this file", "check for a key written twice in one mapping, and for indentation, colons and quotes");
    }

    private static string FirstLine(string message)
    {
        var text = message.Split('\n')[0].Trim();
        var paren = text.IndexOf("): ", StringComparison.Ordinal);
        return paren >= 0 && text.StartsWith('(') ? text[(paren + 3)..] : text;
    }
}
