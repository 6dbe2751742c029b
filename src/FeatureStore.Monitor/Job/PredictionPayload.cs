using System.Buffers;
using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Events.Payloads;
using FeatureStore.Monitor.Baselines;

namespace FeatureStore.Monitor.Job;

/// <summary>
/// Avro and Protobuf predictions: each payload is decoded by the sources' decoders (the same plans, framing, registry
/// and dead-letter reasons) into the fields the monitor reads — the model and version, the declared prediction fields,
/// the monitored and used features as <c>view__feature</c>, the time — and written as the JSON object the JSON path
/// reads, so windows, baselines and alerts see one shape. One instance per consuming loop; not thread-safe.
/// </summary>
internal sealed class PredictionPayload
{
    private readonly EventParser _parser;
    private readonly ArrayBufferWriter<byte> _json = new(512);
    private readonly byte[][] _names;

    private PredictionPayload(EventSchema schema)
    {
        _parser = new EventParser(schema);
        _names = [.. schema.Fields.Select(f => System.Text.Encoding.UTF8.GetBytes(f.Name))];
    }

    /// <summary>The transcoder of the topic that <paramref name="models"/> share, or null when its predictions are JSON (the first model's declaration counts).</summary>
    public static PredictionPayload? For(FeatureRepository repository, IReadOnlyList<ModelDefinition> models)
    {
        var prediction = models[0].Prediction;
        if (prediction.Payload is not { } payload)
        {
            return null;
        }

        var fields = new List<FieldSpec> { new(PredictionReader.ModelField, FieldKind.String), new(PredictionReader.VersionField, FieldKind.String) };
        foreach (var model in models)
        {
            fields.AddRange(model.Prediction.Fields.Select(f => new FieldSpec(f.Name, f.Kind)));
            var features = model.Monitors.Select(m => m.Column).Concat(model.Versions.SelectMany(v => v.Features)).Where(c => c.Contains(':', StringComparison.Ordinal));
            foreach (var column in features)
            {
                var parts = column.Split(':');
                var kind = CompiledRepository.StoredKind(repository, parts[0], parts[1]) == Core.Expressions.ExpressionKind.Text ? FieldKind.String : FieldKind.Double;
                fields.Add(new FieldSpec(MonitorColumns.TableName(column), kind));
            }
        }

        var unique = fields.DistinctBy(f => f.Name).Where(f => f.Name != prediction.TimestampField).ToList();
        var textTime = prediction.Format == "avro" && AvroDecoder.Parse(payload.Text) is Avro.RecordSchema record
            && record.Fields.FirstOrDefault(f => f.Name == prediction.TimestampField)?.Schema.Tag == Avro.Schema.Type.String;
        var schema = new EventSchema(prediction.TimestampField, textTime ? TimestampFormat.Rfc3339 : TimestampFormat.EpochMillis, [], unique);
        if (payload.Registry is { } registry)
        {
            var decoder = new RegistryDecoder(prediction.Format, payload.Text, schema, registry);
            decoder.Attach(Kafka.SchemaRegistry.SchemaRegistryResolvers.For(registry));
            schema.UseDecoder(decoder);
        }
        else
        {
            schema.UseDecoder(prediction.Format == "avro"
                ? AvroDecoder.Compile(payload.Text, schema, payload.Framing)
                : ProtobufDecoder.Compile(payload.Text, payload.Message, schema, payload.Framing));
        }

        return new PredictionPayload(schema);
    }

    /// <summary>The prediction as JSON, or a rejection with the dead-letter reason of the sources (<c>undecodable_payload</c>, <c>wrong_type</c> …).</summary>
    public byte[]? ToJson(ReadOnlySpan<byte> payload, out Rejection? rejection)
    {
        var error = _parser.Parse(payload);
        if (error != ParseError.None)
        {
            rejection = new Rejection(error.ToReason(), _parser.ErrorField, $"the {(_parser.Schema.Decoder is AvroDecoder ? "Avro" : "binary")} prediction cannot be read: {error.ToReason()}");
            return null;
        }

        rejection = null;
        _json.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_json))
        {
            writer.WriteStartObject();
            var fields = _parser.Schema.Fields;
            for (var i = 0; i < fields.Count; i++)
            {
                if (!_parser.HasValue(i))
                {
                    continue;
                }

                switch (fields[i].Kind)
                {
                    case FieldKind.String:
                        writer.WriteString(_names[i], _parser.GetUtf8(i));
                        break;
                    case FieldKind.Double:
                        writer.WriteNumber(_names[i], _parser.GetDouble(i));
                        break;
                    case FieldKind.Bool:
                        writer.WriteBoolean(_names[i], _parser.GetInt64(i) != 0);
                        break;
                    default:
                        writer.WriteNumber(_names[i], _parser.GetInt64(i));
                        break;
                }
            }

            writer.WriteNumber(_parser.Schema.TimestampField, _parser.EventTimeMs);
            writer.WriteEndObject();
        }

        return _json.WrittenSpan.ToArray();
    }
}
