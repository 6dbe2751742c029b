using System.Globalization;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Parquet.Tables;
using FeatureStore.Redis.Drift;

namespace FeatureStore.Monitor.Job;

/// <summary>Why a prediction went to the dead-letter topic (header <c>fs-reason</c>).</summary>
internal sealed record Rejection(string Reason, string? Field, string Detail);

/// <summary>
/// Reads one prediction event: a JSON object with the model version in <c>model_version</c> (optional
/// when the model has one version), optionally the model's name in <c>model</c> (required when models
/// share a topic), the event time in the prediction's <c>timestamp_field</c> (RFC 3339 or epoch ms), and
/// the monitored columns: prediction fields by name, features as <c>view__feature</c> (or <c>view:feature</c>).
/// </summary>
internal static class PredictionReader
{
    public const string VersionField = "model_version";
    public const string ModelField = "model";

    /// <remarks>
    /// With a model registry (<paramref name="stages"/>), a version registered there is known even when the
    /// repository does not declare it, and a prediction without a version counts as the production version's.
    /// </remarks>
    public static Rejection? Read(JsonElement root, IReadOnlyList<ModelDefinition> models, out ModelDefinition? model, out string? version, out long timeMs, ModelStageCache? stages = null)
    {
        model = null;
        version = null;
        timeMs = 0;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return new Rejection("malformed_json", null, "a prediction is a JSON object");
        }

        if (root.TryGetProperty(ModelField, out var name) && name.ValueKind == JsonValueKind.String)
        {
            var text = name.GetString();
            model = models.FirstOrDefault(m => m.Name == text);
            if (model is null)
            {
                return new Rejection("unknown_model", ModelField, $"no model '{text}' reads this topic");
            }
        }
        else if (models.Count == 1)
        {
            model = models[0];
        }
        else
        {
            return new Rejection("missing_model", ModelField, "several models share this topic: the prediction must name its model");
        }

        if (root.TryGetProperty(VersionField, out var v) && v.ValueKind == JsonValueKind.String)
        {
            var label = v.GetString();
            if (model.Versions.All(x => x.Version != label) && stages?.IsRegistered(model.Name, label!) != true)
            {
                return new Rejection("unknown_version", VersionField, $"model '{model.Name}' has no version '{label}'");
            }

            version = label;
        }
        else if (stages?.Production(model.Name) is { } production)
        {
            version = production;
        }
        else if (model.Versions.Count == 1)
        {
            version = model.Versions[0].Version;
        }
        else
        {
            return new Rejection("missing_version", VersionField, $"model '{model.Name}' has several versions: the prediction must carry {VersionField}");
        }

        var timeField = model.Prediction.TimestampField;
        if (!root.TryGetProperty(timeField, out var time) || time.ValueKind == JsonValueKind.Null)
        {
            return new Rejection("missing_timestamp", timeField, "no event time");
        }

        if (!(time.ValueKind == JsonValueKind.Number && time.TryGetInt64(out timeMs))
            && !(time.ValueKind == JsonValueKind.String && Rfc3339.TryParse(System.Text.Encoding.UTF8.GetBytes(time.GetString()!), out timeMs)))
        {
            return new Rejection("invalid_timestamp", timeField, $"'{time.GetRawText()}' is neither RFC 3339 nor epoch milliseconds");
        }

        foreach (var monitor in model.Monitors)
        {
            var field = model.Prediction.Fields.FirstOrDefault(f => f.Name == monitor.Column);
            if (field is null)
            {
                continue; // a feature: absent is allowed (skipped), checked when read
            }

            if (!root.TryGetProperty(field.Name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                return new Rejection("missing_field", field.Name, "a monitored prediction field is missing");
            }

            var ok = field.Kind switch
            {
                // NaN and infinities are numbers too: the window counts them apart (DESIGN.md §7).
                FieldKind.Int or FieldKind.Double => AsNumber(value) is not null,
                FieldKind.Bool => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
                _ => value.ValueKind == JsonValueKind.String,
            };
            if (!ok)
            {
                return new Rejection("wrong_type", field.Name, $"'{value.GetRawText()}' is not a {field.Kind.ToString().ToLowerInvariant()}");
            }
        }

        return null;
    }

    /// <summary>The element holding <paramref name="column"/> in the event, if any.</summary>
    public static bool TryGetColumn(JsonElement root, string column, out JsonElement value)
    {
        if ((root.TryGetProperty(MonitorColumns.TableName(column), out value) || root.TryGetProperty(column, out value))
            && value.ValueKind != JsonValueKind.Null)
        {
            return true;
        }

        value = default;
        return false;
    }

    /// <summary>A categorical value as text: strings as they are, booleans as true/false, numbers as written.</summary>
    public static string AsText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText(),
    };

    /// <summary>
    /// A numeric value, NaN and infinities included (a number too large for a double, or text such as
    /// <c>"NaN"</c>, <c>"inf"</c>, <c>"-Infinity"</c>), or null when the element is not a number.
    /// </summary>
    public static double? AsNumber(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number ? (value.TryGetDouble(out var d) ? d : double.Parse(value.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture))
        : value.ValueKind == JsonValueKind.String && NumberText.TryParse(value.GetString()!, out d) ? d
        : null;

    /// <summary>
    /// Parses a prediction. Python's json writes NaN and infinities as the bare words <c>NaN</c>,
    /// <c>Infinity</c> and <c>-Infinity</c>, which JSON does not allow: when the message does not parse, those
    /// words outside strings are read as the strings <c>"NaN"</c>, <c>"Infinity"</c> and <c>"-Infinity"</c>.
    /// </summary>
    /// <exception cref="JsonException">The message is not JSON, even so (the first error is thrown).</exception>
    public static JsonDocument Parse(byte[] message)
    {
        try
        {
            return JsonDocument.Parse(message);
        }
        catch (JsonException)
        {
            if (QuoteNonFiniteWords(message) is { } quoted)
            {
                try
                {
                    return JsonDocument.Parse(quoted);
                }
                catch (JsonException)
                {
                    // not that either: report the original error
                }
            }

            throw;
        }
    }

    // The message with every bare NaN / Infinity / -Infinity outside strings quoted, or null when it has none.
    internal static byte[]? QuoteNonFiniteWords(ReadOnlySpan<byte> json)
    {
        List<byte>? output = null;
        var inString = false;
        var copied = 0;
        for (var i = 0; i < json.Length; i++)
        {
            var c = json[i];
            if (inString)
            {
                if (c == (byte)'\\')
                {
                    i++;
                }
                else if (c == (byte)'"')
                {
                    inString = false;
                }

                continue;
            }

            if (c == (byte)'"')
            {
                inString = true;
                continue;
            }

            var word = json[i..].StartsWith("NaN"u8) ? 3 : json[i..].StartsWith("Infinity"u8) ? 8 : json[i..].StartsWith("-Infinity"u8) ? 9 : 0;
            if (word == 0 || (i + word < json.Length && !IsDelimiter(json[i + word])) || (i > 0 && !IsDelimiter(json[i - 1])))
            {
                continue;
            }

            output ??= new List<byte>(json.Length + 8);
            output.AddRange(json[copied..i]);
            output.Add((byte)'"');
            output.AddRange(json.Slice(i, word));
            output.Add((byte)'"');
            i += word - 1;
            copied = i + 1;
        }

        if (output is null)
        {
            return null;
        }

        output.AddRange(json[copied..]);
        return [.. output];
    }

    private static bool IsDelimiter(byte c) => c is (byte)',' or (byte)':' or (byte)'[' or (byte)']' or (byte)'{' or (byte)'}' or (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
}
