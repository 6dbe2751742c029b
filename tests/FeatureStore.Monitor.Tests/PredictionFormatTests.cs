using System.Text.Json;
using Avro;
using Avro.Generic;
using Confluent.Kafka;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Testing;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace FeatureStore.Monitor.Tests;

/// <summary>
/// Avro and Protobuf prediction topics, declared with the sources' keys (format, schema, framing) and read by the
/// sources' decoders: the same predictions in JSON and in the binary format, each on its own single-partition topic
/// (so both monitors cut the same windows), give the same drift history, value for value; an unreadable payload is
/// dead-lettered with the sources' reason.
/// </summary>
[Trait("Category", "Integration")]
public sealed class PredictionFormatTests(EmbeddedKafkaFixture kafka, GarnetFixture store)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<GarnetFixture>
{
    private const string AvroSchema = """{"type": "record", "name": "Prediction", "fields": [{"name": "request", "type": "string"}, {"name": "model_version", "type": "string"}, {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}, {"name": "score", "type": "double"}, {"name": "segment", "type": {"type": "enum", "name": "Segment", "symbols": ["low", "high"]}}]}""";

    private const string Proto = """
        syntax = "proto3";
        package scoring;
        message Prediction { string model_version = 1; int64 event_time = 2; double score = 3; string segment = 4; repeated string notes = 5; }
        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("avro")]
    [InlineData("protobuf")]
    public async Task Binary_predictions_give_the_drift_history_of_the_same_predictions_in_json(string format)
    {
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var json = await RunAsync("json", start);
        var binary = await RunAsync(format, start);
        Assert.Equal(8, json.History.Count); // three windows like training, one shifted, two columns each
        Assert.Equal(json.History, binary.History);
        Assert.Contains(json.History, h => h.StartsWith("score", StringComparison.Ordinal) && h.Contains("Drifted = True", StringComparison.Ordinal));
        Assert.Equal("undecodable_payload", binary.DeadLetterReason);
    }

    private async Task<(List<string> History, string? DeadLetterReason)> RunAsync(string format, long start)
    {
        var topic = kafka.CreateTopic("pred-" + format, partitions: 1);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        var repository = MonitorScenario.Repository(topic, "http://127.0.0.1:9/unused", MonitorScenario.SecretEnv, edit: yaml => Declare(yaml, format));
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        await new DriftStore(store.Connection.Database, prefix, repository.Project).SaveBaselineAsync(MonitorScenario.Baseline(repository));
        var metrics = new MonitorMetrics();
        var job = new MonitorJob(repository, store.Connection.Database, prefix, MonitorScenario.Options(kafka.BootstrapServers, "monitor-" + Guid.NewGuid().ToString("N"), "unused"), metrics, NullLogger.Instance);
        await using var monitor = RunningMonitor.Start(job, metrics, Ct);

        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        var t = start;
        foreach (var (seed, mean) in new[] { (100, 0.3), (101, 0.3), (102, 0.3), (2, 0.6) })
        {
            foreach (var score in MonitorScenario.Scores(seed, MonitorScenario.Window, mean))
            {
                producer.Produce(topic, new Message<string, byte[]> { Key = "k", Value = Encode(format, t++, score) });
            }
        }

        if (format != "json")
        {
            producer.Produce(topic, new Message<string, byte[]> { Key = "bad", Value = format == "avro" ? [0, 0, 0, 0, 1, 0x7F] : [0x1A, 0x08, 0x00] });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        await Eventually.TrueAsync(async () => (await job.Store.HistoryAsync("scorer", "v1")).Count >= 8 && (format == "json" || metrics.DeadLettered >= 1),
            TimeSpan.FromSeconds(60), $"four {format} windows evaluated", Ct);
        var history = (await job.Store.HistoryAsync("scorer", "v1"))
            .OrderBy(h => h.WindowStartMs).ThenBy(h => h.Column, StringComparer.Ordinal)
            .Select(h => $"{h.Column} {h.WindowStartMs}-{h.WindowEndMs} n={h.Count} Drifted = {h.Drifted} {string.Join("; ", h.Results)}")
            .ToList();
        string? reason = null;
        if (format != "json")
        {
            using var dlq = new ConsumerBuilder<string, byte[]>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
            dlq.Subscribe(topic + ".dlq");
            var dead = dlq.Consume(TimeSpan.FromSeconds(30));
            reason = dead is null ? null : System.Text.Encoding.UTF8.GetString(dead.Message.Headers.GetLastBytes("fs-reason"));
            dlq.Close();
        }

        return (history, reason);
    }

    private static string Declare(string yaml, string format)
    {
        if (format == "json")
        {
            return yaml;
        }

        var indent = new string(' ', 6);
        var schema = format == "avro" ? indent + "  " + AvroSchema : string.Join('\n', Proto.Split('\n').Select(l => indent + "  " + l));
        var framing = format == "avro" ? $"{indent}framing: confluent\n" : "";
        var declared = $"{indent}timestamp_field: event_time\n{indent}format: {format}\n{framing}{indent}schema: |\n{schema}\n";
        Assert.Contains(indent + "timestamp_field: event_time\n", yaml, StringComparison.Ordinal);
        return yaml.Replace(indent + "timestamp_field: event_time\n", declared, StringComparison.Ordinal);
    }

    private static byte[] Encode(string format, long time, double score)
    {
        var segment = score > 0.3 ? "high" : "low";
        switch (format)
        {
            case "avro":
                var schema = (RecordSchema)Schema.Parse(AvroSchema);
                var record = new GenericRecord(schema);
                record.Add("request", "r" + time);
                record.Add("model_version", "v1");
                record.Add("event_time", DateTimeOffset.FromUnixTimeMilliseconds(time).UtcDateTime);
                record.Add("score", score);
                record.Add("segment", new GenericEnum((EnumSchema)schema["segment"].Schema, segment));
                using (var stream = new MemoryStream())
                {
                    stream.Write([0, 0, 0, 0, 1]);
                    var encoder = new Avro.IO.BinaryEncoder(stream);
                    new GenericDatumWriter<GenericRecord>(schema).Write(record, encoder);
                    encoder.Flush();
                    return stream.ToArray();
                }

            case "protobuf":
                using (var stream = new MemoryStream())
                {
                    var output = new CodedOutputStream(stream, leaveOpen: true);
                    output.WriteTag(5, WireFormat.WireType.LengthDelimited);
                    output.WriteString("read past");
                    output.WriteTag(3, WireFormat.WireType.Fixed64);
                    output.WriteDouble(score);
                    output.WriteTag(1, WireFormat.WireType.LengthDelimited);
                    output.WriteString("v1");
                    output.WriteTag(4, WireFormat.WireType.LengthDelimited);
                    output.WriteString(segment);
                    output.WriteTag(2, WireFormat.WireType.Varint);
                    output.WriteInt64(time);
                    output.Flush();
                    return stream.ToArray();
                }

            default:
                return JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["model_version"] = "v1", ["event_time"] = time, ["score"] = score, ["segment"] = segment });
        }
    }
}
