using System.Text.RegularExpressions;
using FeatureStore.Core.Definitions;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Testing;

namespace FeatureStore.Reliability;

/// <summary>
/// Random mutations of a valid feature repository (a fixed seed): each one loads to a repository or to
/// diagnostics that all name the file, a line and a column inside it — never an unhandled exception.
/// </summary>
public sealed partial class RepositoryFuzzTests
{
    private const int Mutations = 3_000;
    private const string FileName = "fuzz.yaml";
    private static readonly string[] Tokens = [":", "-", "- ", "[", "]", "{", "}", "\"", "'", "#", "&a", "*a", "!!str", "|", ">", "%", "@", "`", "\t", "\n", "  ", "\u0000", "\uFEFF", "?", ",", "<<: *a", "~", "1e999", "-1", "0", "..", "../../etc/passwd", "\u00e9", "\uD83D\uDE00"];

    [GeneratedRegex(@"^fuzz\.yaml:(\d+):(\d+): (error|warning) FS\d{4}: \S")]
    private static partial Regex DiagnosticShape();

    [Fact]
    public void Mutated_repositories_give_diagnostics_with_file_line_and_column_and_never_throw()
    {
        var valid = PaymentsRepository.Yaml("payments");
        Assert.True(FeatureRepositoryLoader.LoadFromText(valid, FileName).Success);
        var random = new Random(61);
        int loaded = 0, refused = 0, diagnostics = 0;
        for (var i = 0; i < Mutations; i++)
        {
            var text = Mutate(valid, random, 1 + random.Next(4));
            LoadResult result;
            try
            {
                result = FeatureRepositoryLoader.LoadFromText(text, FileName);
                if (result.Success)
                {
                    _ = CompiledRepository.Compile(result.Repository!);
                }
            }
            catch (Exception ex)
            {
                Assert.Fail($"mutation {i} threw {ex}\n--- input ---\n{text}");
                throw;
            }

            if (result.Success)
            {
                loaded++;
                continue;
            }

            refused++;
            Assert.NotEmpty(result.Diagnostics);
            var lines = text.Split('\n').Length;
            foreach (var diagnostic in result.Diagnostics)
            {
                diagnostics++;
                var match = DiagnosticShape().Match(diagnostic.ToString());
                Assert.True(match.Success, $"mutation {i}: '{diagnostic}' is not file:line:column: error FSnnnn: message");
                Assert.InRange(diagnostic.Line, 1, lines + 1);
                Assert.True(diagnostic.Column >= 1, $"mutation {i}: column {diagnostic.Column}");
            }
        }

        Figures.Report("hostile input / repository files", $"mutations={Mutations} seed=61 loaded={loaded} refused={refused} diagnostics={diagnostics} exceptions=0");
    }

    private static string Mutate(string text, Random random, int times)
    {
        for (var t = 0; t < times; t++)
        {
            var lines = text.Split('\n').ToList();
            var at = random.Next(Math.Max(1, text.Length));
            switch (random.Next(8))
            {
                case 0: // delete a span
                    text = text.Remove(at, Math.Min(random.Next(1, 12), text.Length - at));
                    break;
                case 1: // insert a token
                    text = text.Insert(at, Tokens[random.Next(Tokens.Length)]);
                    break;
                case 2: // duplicate a line
                    var dup = random.Next(lines.Count);
                    lines.Insert(dup, lines[dup]);
                    text = string.Join('\n', lines);
                    break;
                case 3: // swap two lines
                    int a = random.Next(lines.Count), b = random.Next(lines.Count);
                    (lines[a], lines[b]) = (lines[b], lines[a]);
                    text = string.Join('\n', lines);
                    break;
                case 4: // re-indent a line
                    var re = random.Next(lines.Count);
                    lines[re] = new string(' ', random.Next(0, 12)) + lines[re].TrimStart();
                    text = string.Join('\n', lines);
                    break;
                case 5: // truncate
                    text = text[..at];
                    break;
                case 6: // replace a value after a colon
                    var colon = text.IndexOf(':', at);
                    if (colon > 0)
                    {
                        var end = text.IndexOf('\n', colon);
                        end = end < 0 ? text.Length : end;
                        text = text[..(colon + 1)] + " " + Tokens[random.Next(Tokens.Length)] + text[end..];
                    }

                    break;
                default: // a random character
                    text = text.Insert(at, ((char)random.Next(1, 0x2FF)).ToString());
                    break;
            }
        }

        return text;
    }
}
