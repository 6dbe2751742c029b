using YamlDotNet.Core;
using YamlEvents = YamlDotNet.Core.Events;

namespace FeatureStore.Core.Definitions;

/// <summary>Where a YAML text cannot be read, and what to write: 1-based line and column, the problem, a hint.</summary>
/// <param name="Line">The line, from 1.</param>
/// <param name="Column">The column, from 1.</param>
/// <param name="Message">What is wrong there.</param>
/// <param name="Hint">What to write instead.</param>
public sealed record YamlProblem(int Line, int Column, string Message, string Hint);

/// <summary>Positions for the YAML reader's failures that come without one (the repository file and the host configuration).</summary>
public static class YamlErrors
{
    /// <summary>
    /// Where the YAML reader stops on <paramref name="text"/> it fails to load without a position (YamlDotNet
    /// throws InvalidOperationException or ArgumentException on some input, found by fuzzing): inside a '[' or
    /// '{' never closed (an unclosed bracket swallows the lines after it until something cannot be read), its
    /// opening; else the scanner's position when it failed; else (the events read, the node loader failed) the
    /// text's start.
    /// </summary>
    public static YamlProblem Locate(string text)
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
                    return new YamlProblem((int)start.Line, (int)start.Column, $"the '{bracket}' here is never closed (the YAML reader stopped at line {scanner.CurrentPosition.Line}, column {scanner.CurrentPosition.Column})",
                        $"close it with '{close}' on this line");
                }
            }

            return new YamlProblem((int)scanner.CurrentPosition.Line, (int)scanner.CurrentPosition.Column, "the YAML reader could not read on from here", "check indentation, colons and quotes, and that every quoted scalar is closed");
        }

        return new YamlProblem(1, 1, "the YAML reader could not load this file", "check for a key written twice in one mapping, and for indentation, colons and quotes");
    }
}
