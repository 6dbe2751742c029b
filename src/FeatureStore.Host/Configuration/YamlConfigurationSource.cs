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
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }

        if (stream.Documents.Count > 0)
        {
            Visit(stream.Documents[0].RootNode, "", data);
        }

        return data;
    }

    private static void Visit(YamlNode node, string path, Dictionary<string, string?> data)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    var name = ((YamlScalarNode)key).Value ?? "";
                    Visit(value, path.Length == 0 ? name : path + ConfigurationPath.KeyDelimiter + name, data);
                }

                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    Visit(sequence.Children[i], path + ConfigurationPath.KeyDelimiter + i.ToString(System.Globalization.CultureInfo.InvariantCulture), data);
                }

                break;
            case YamlScalarNode scalar:
                data[path] = scalar.Style == YamlDotNet.Core.ScalarStyle.Plain && scalar.Value is "~" or "null" or "" ? null : scalar.Value;
                break;
        }
    }

    private sealed class Provider(string path) : ConfigurationProvider
    {
        public override void Load() => Data = Flatten(File.ReadAllText(path));
    }
}
