using System.Text.Json;
using System.Text.Json.Serialization;

namespace FeatureStore.Monitor.Internal;

/// <summary>The JSON shape of baselines, history entries, reports and alerts: snake_case, enums as names.</summary>
internal static class DriftJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = false,
    };

    public static JsonSerializerOptions Indented { get; } = new(Options) { WriteIndented = true };
}
