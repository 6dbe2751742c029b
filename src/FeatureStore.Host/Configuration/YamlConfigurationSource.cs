using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Host.Configuration;

/// <summary>
/// A YAML file as configuration: mappings become sections (<c>jobs:serve:httpPort</c>), sequence items
/// indexes (<c>jobs:serve:apiKeys:0</c>), so YAML and environment variables (<c>FEATURESTORE__JOBS__SERVE__HTTPPORT</c>)
/// address the same keys. A <c>.json</c> file is read the same way (JSON is YAML).
/// </summary>
public sealed class YamlConfigurationSource(string path) : IConfigurationSource
{
    /// <summary>The file.</summary>
    public string Path { get; } = path;

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new Provider(Path);

    /// <summary>Flattens the YAML text into configuration keys (for tests and for the provider).</summary>
    public static Dictionary<string, string?> Flatten(string text)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in Read(text).Where(e => !e.Section))
        {
            data[entry.Key] = entry.Value; // a key written twice: the last one wins, as in any configuration source
        }

        return data;
    }

    /// <summary>
    /// The YAML text's entries in file order, each with where its key and its value are (1-based line and
    /// column), so the configuration's checks can point at them. Sections (mappings and lists) are entries
    /// too, marked <see cref="YamlEntry.Section"/>, before their own entries.
    /// </summary>
    public static IReadOnlyList<YamlEntry> Read(string text)
    {
        var entries = new List<YamlEntry>();
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }

        if (stream.Documents.Count > 0)
        {
            var root = stream.Documents[0].RootNode;
            Visit(root, "", root.Start, entries);
        }

        return entries;
    }

    private static void Visit(YamlNode node, string path, YamlDotNet.Core.Mark keyAt, List<YamlEntry> entries)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                if (path.Length > 0)
                {
                    entries.Add(new YamlEntry(path, null, Position(keyAt), Position(node.Start), Section: true));
                }

                foreach (var (key, value) in mapping.Children)
                {
                    var name = ((YamlScalarNode)key).Value ?? "";
                    Visit(value, path.Length == 0 ? name : path + ConfigurationPath.KeyDelimiter + name, key.Start, entries);
                }

                break;
            case YamlSequenceNode sequence:
                if (path.Length > 0)
                {
                    entries.Add(new YamlEntry(path, null, Position(keyAt), Position(node.Start), Section: true));
                }

                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    Visit(sequence.Children[i], path + ConfigurationPath.KeyDelimiter + i.ToString(System.Globalization.CultureInfo.InvariantCulture), sequence.Children[i].Start, entries);
                }

                break;
            case YamlScalarNode scalar:
                var text = scalar.Style == YamlDotNet.Core.ScalarStyle.Plain && scalar.Value is "~" or "null" or "" ? null : scalar.Value;
                entries.Add(new YamlEntry(path, text, Position(keyAt), Position(scalar.Start)));
                break;
        }
    }

    private static TextPosition Position(YamlDotNet.Core.Mark mark) => new((int)mark.Line, (int)mark.Column);

    private sealed class Provider(string path) : ConfigurationProvider
    {
        public override void Load() => Data = Flatten(File.ReadAllText(path));
    }
}

/// <summary>A place in a text file: 1-based line and column.</summary>
/// <param name="Line">The line, from 1.</param>
/// <param name="Column">The column, from 1.</param>
public readonly record struct TextPosition(int Line, int Column);

/// <summary>One configuration entry of a YAML file and where it is written.</summary>
/// <param name="Key">The configuration key (<c>jobs:serve:grpcPort</c>), spelt as in the file.</param>
/// <param name="Value">The value, null for YAML's null.</param>
/// <param name="KeyAt">Where its key is (for a sequence item, the item).</param>
/// <param name="ValueAt">Where its value is.</param>
/// <param name="Section">A mapping or a list (its entries follow), not a value.</param>
public sealed record YamlEntry(string Key, string? Value, TextPosition KeyAt, TextPosition ValueAt, bool Section = false);
