using System.Buffers.Binary;
using Avro;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using FeatureStore.Core.Events.Payloads;
using FeatureStore.Testing;
using Google.Protobuf;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// Confluent-framed sources read with the writer schema their id names, from a Schema Registry: the real Confluent
/// client (and, for Avro, Confluent's own serializer) against the minimal registry endpoint started here. Events
/// written by evolved writers (fields added with defaults, removed, reordered, renumbered, enum symbols reordered) end
/// online exactly as the §4 reference the JSON events are checked against; an unknown id is dead-lettered; each id is
/// fetched once; a registry that stops mid-run pauses ingest, which loses nothing once it is back.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SchemaRegistryIngestTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>
{
    private const int UnknownId = 999_999;

    // The repository's (reader's) schema: the scenario's, its country with a default.
    private static readonly string ReaderAvro = PayloadFormats.AvroSchema.Replace(
        "\"symbols\": [\"FR\", \"DE\", \"IT\", \"ES\"]}}", "\"symbols\": [\"FR\", \"DE\", \"IT\", \"ES\"]}, \"default\": \"FR\"}", StringComparison.Ordinal);

    // Added field with a default, `channel` removed, fields and enum symbols in another order.
    private const string EvolvedAvro = """{"type": "record", "name": "Payment", "fields": [{"name": "device", "type": "string", "default": "phone"}, {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}, {"name": "amount", "type": "double"}, {"name": "user_id", "type": "string"}, {"name": "merchant_id", "type": "string"}, {"name": "country", "type": {"type": "enum", "name": "Country", "symbols": ["ES", "IT", "DE", "FR"]}}]}""";

    // `country` removed (the reader's default, FR, stands in), a field added: written for the FR events only.
    private const string WithoutCountryAvro = """{"type": "record", "name": "Payment", "fields": [{"name": "user_id", "type": "string"}, {"name": "session", "type": "long"}, {"name": "merchant_id", "type": "string"}, {"name": "amount", "type": "double"}, {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}""";

    // Renumbered fields, an added one, and the events' message second in its file (message-index path [1]).
    private const string EvolvedProto = """
        syntax = "proto3";
        package shop.v2;
        import "google/protobuf/timestamp.proto";
        message Envelope { string note = 1; }
        message Payment {
          google.protobuf.Timestamp ts = 1;
          double amount = 2;
          string device = 3;
          string user_id = 4;
          string merchant_id = 5;
          string country = 6;
        }
        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("avro")]
    [InlineData("protobuf")]
    public async Task Events_of_evolved_writers_end_as_the_reference_each_id_is_fetched_once_and_unknown_ids_are_dead_lettered(string format)
    {
        await using var registry = await SchemaRegistryEndpoint.StartAsync(Ct);
        using var writers = new Writers(registry, format);
        var scenario = new IngestScenario(kafka.CreateTopic("sr-" + format, partitions: 4), format, Declare(registry), writers.Encode);
        kafka.Cluster.CreateTopic(scenario.Topic + ".dlq", 1);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var unknown = 0;
        scenario.Produce(kafka.BootstrapServers, count: 3_000, users: 150, seed: 5, nowMs: now, corrupt: i =>
        {
            if (i % 400 != 7)
            {
                return null;
            }

            unknown++;
            return UnknownFrame(format);
        });

        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);
        Assert.Equal(3_000 - unknown, metrics.EventsTotal);
        Assert.Equal(unknown, metrics.DeadLetteredTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (45 * 60_000));

        // Offline: the archiver of the same process writes the same events to the event log, the unknown ids left out.
        var store = Directory.CreateTempSubdirectory("fs-sr-").FullName;
        try
        {
            var archiver = new FeatureStore.Ingest.Archiving.OfflineArchiver(scenario.Compiled, new FeatureStore.Ingest.Archiving.OfflineArchiverOptions
            {
                BootstrapServers = kafka.BootstrapServers,
                Directory = store,
                GroupId = "offline",
                MaxBatchDelay = TimeSpan.FromMilliseconds(200),
                SessionTimeout = TimeSpan.FromSeconds(6),
            }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
            {
                var run = Task.Run(() => archiver.RunAsync(cts.Token), Ct);
                await Eventually.TrueAsync(() => Task.FromResult(archiver.EventsWritten + archiver.EventsSkipped >= 3_000), TimeSpan.FromSeconds(120), "archived", Ct);
                await cts.CancelAsync();
                await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            }

            Assert.Equal(3_000 - unknown, archiver.EventsWritten);
            var expected = scenario.Events.Select(e => $"{e.User}|{e.Merchant}|{e.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture)}|{e.Country}|{e.Time}").Order(StringComparer.Ordinal);
            Assert.Equal(expected, (await LoggedAsync(store)).Order(StringComparer.Ordinal));
        }
        finally
        {
            Directory.Delete(store, recursive: true);
        }

        // Every writer was used, and each id, known or not, was asked for once.
        Assert.Equal(format == "avro" ? 3 : 2, writers.Ids.Count);
        Assert.All(writers.Ids, id => Assert.Equal(1, registry.FetchesOf(id)));
        Assert.Equal(1, registry.FetchesOf(UnknownId));
        Assert.Equal(Enumerable.Repeat("unknown_schema_id", unknown), DeadLetterReasons(scenario.Topic + ".dlq", unknown));
    }

    [Fact]
    public async Task A_registry_that_stops_mid_run_fails_the_job_and_nothing_is_lost_once_it_is_back()
    {
        await using var registry = await SchemaRegistryEndpoint.StartAsync(Ct);
        using var writers = new Writers(registry, "avro");
        var evolved = false;
        var scenario = new IngestScenario(kafka.CreateTopic("sr-down", partitions: 4), "avro", Declare(registry),
            e => evolved ? writers.Serialize(EvolvedAvro, e) : writers.Serialize(ReaderAvro, e));
        kafka.Cluster.CreateTopic(scenario.Topic + ".dlq", 1);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        scenario.Produce(kafka.BootstrapServers, count: 1_000, users: 100, seed: 3, nowMs: now);

        // The evolved writer is registered now (the serializer keeps its id), but ingest has never asked for it.
        var evolvedId = writers.Warm(EvolvedAvro);
        using var metrics = new IngestMetrics();
        var db = redis.Connection.Database;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var first = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics).RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);

        // Down: the first event of the new id stops the job (its supervisor restarts it); nothing is dead-lettered and
        // nothing past what was applied is checkpointed.
        await registry.StopAsync();
        evolved = true;
        scenario.Produce(kafka.BootstrapServers, count: 1_000, users: 100, seed: 4, nowMs: now, firstIndex: 1_000);
        var failure = await Assert.ThrowsAsync<SchemaRegistryUnavailableException>(() => first.WaitAsync(TimeSpan.FromSeconds(90), Ct));
        Assert.Contains(registry.Url, failure.Message, StringComparison.Ordinal);
        Assert.Equal(0, metrics.DeadLetteredTotal);
        Assert.True(await scenario.CheckpointedAsync(db) < 2_000, "nothing past the unresolved events is checkpointed");

        // Back: the restarted job reads on from the checkpoints, and every event counts once.
        await registry.StartAgainAsync(Ct);
        var second = Task.Run(() => scenario.CreateJob(kafka.BootstrapServers, db, metrics).RunAsync(cts.Token), Ct);
        await scenario.WaitUntilCaughtUpAsync(kafka.BootstrapServers, db, TimeSpan.FromSeconds(120), Ct);
        await cts.CancelAsync();
        await second.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(0, metrics.DeadLetteredTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        Assert.Equal(1, registry.FetchesOf(evolvedId));
    }

    // The event log's rows as user|merchant|amount|country|ts.
    private static async Task<List<string>> LoggedAsync(string store)
    {
        var rows = new List<string>();
        foreach (var path in FeatureStore.Parquet.EventLog.EventLogReader.CommittedFiles(store, "payments"))
        {
            await using var reader = await global::Parquet.ParquetReader.CreateAsync(path, cancellationToken: Ct);
            var fields = reader.Schema.DataFields;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var columns = new List<Array>();
                foreach (var name in new[] { "user_id", "merchant_id", "amount", "country", "ts" })
                {
                    columns.Add(await FeatureStore.Parquet.Tables.ParquetColumns.ReadAsync(group, fields.Single(f => f.Name == name), Ct));
                }

                for (var i = 0; i < columns[0].Length; i++)
                {
                    var time = columns[4].GetValue(i) switch
                    {
                        DateTime d => new DateTimeOffset(d, TimeSpan.Zero).ToUnixTimeMilliseconds(),
                        var other => Convert.ToInt64(other, System.Globalization.CultureInfo.InvariantCulture),
                    };
                    rows.Add(string.Join('|', columns[0].GetValue(i), columns[1].GetValue(i),
                        Convert.ToDouble(columns[2].GetValue(i), System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        columns[3].GetValue(i), time));
                }
            }
        }

        return rows;
    }

    // The repository: the source framed for the registry, its reader schema with country's default.
    private static Func<string, string> Declare(SchemaRegistryEndpoint registry) => yaml =>
        yaml.Replace(PayloadFormats.AvroSchema, ReaderAvro, StringComparison.Ordinal)
            .Replace("    framing: confluent\n", $"    framing: confluent\n    schema_registry: {{ url: '{registry.Url}' }}\n", StringComparison.Ordinal);

    private static string UnknownFrame(string format)
    {
        Span<byte> id = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(id, UnknownId);
        var header = "\0" + string.Concat(id.ToArray().Select(b => (char)b));
        return format == "avro" ? header + "\u0004u1" : header + "\0\u000A\u0002u1";
    }

    private List<string> DeadLetterReasons(string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "dlq-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(topic);
        var reasons = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (reasons.Count < expected && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } record)
            {
                reasons.Add(System.Text.Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes("fs-reason")));
            }
        }

        return reasons;
    }

    /// <summary>
    /// The producers' side: Avro records written by Confluent's <see cref="AvroSerializer{T}"/> through the endpoint
    /// (which registers each writer schema); Protobuf written by Google.Protobuf and framed as Confluent's serializer
    /// frames it, the .proto registered at the endpoint (Confluent's Protobuf serializer does not install here).
    /// </summary>
    private sealed class Writers : IDisposable
    {
        private readonly CachedSchemaRegistryClient _client;
        private readonly AvroSerializer<GenericRecord> _serializer;
        private readonly SchemaRegistryEndpoint _registry;
        private readonly string _format;

        public Writers(SchemaRegistryEndpoint registry, string format)
        {
            _registry = registry;
            _format = format;
            _client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = registry.Url });
            _serializer = new AvroSerializer<GenericRecord>(_client, new AvroSerializerConfig { AutoRegisterSchemas = true });
        }

        public HashSet<int> Ids { get; } = [];

        public byte[] Encode(EventFields e) => _format == "avro"
            ? Serialize(e.Country == "FR" ? WithoutCountryAvro : e.Index % 2 == 0 ? ReaderAvro : EvolvedAvro, e)
            : e.Index % 2 == 0 ? Proto(PayloadFormats.Proto, [0], e) : Proto(EvolvedProto, [2, 2], e);

        /// <summary>Serializes one record of <paramref name="schema"/>, registering it first, and returns its id.</summary>
        public int Warm(string schema) => BinaryPrimitives.ReadInt32BigEndian(Serialize(schema, new EventFields("u0", "m0", 1, "DE", 1_000, 0)).AsSpan(1, 4));

        public byte[] Serialize(string schemaText, EventFields e)
        {
            var schema = (RecordSchema)Avro.Schema.Parse(schemaText);
            var record = new GenericRecord(schema);
            foreach (var field in schema.Fields)
            {
                object value = field.Name switch
                {
                    "user_id" => e.User,
                    "merchant_id" => e.Merchant,
                    "amount" => e.Amount,
                    "country" => new GenericEnum((EnumSchema)field.Schema, e.Country),
                    "channel" => "web",
                    "device" => "tablet",
                    "session" => (long)e.Index,
                    "ts" => DateTimeOffset.FromUnixTimeMilliseconds(e.Time).UtcDateTime,
                    _ => throw new InvalidOperationException(field.Name),
                };
                record.Add(field.Name, value);
            }

            var bytes = _serializer.SerializeAsync(record, new SerializationContext(MessageComponentType.Value, "payments")).GetAwaiter().GetResult();
            Ids.Add(BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(1, 4)));
            return bytes;
        }

        private byte[] Proto(string proto, byte[] path, EventFields e)
        {
            var id = _registry.Register(proto, "PROTOBUF");
            Ids.Add(id);
            var evolved = proto == EvolvedProto;
            using var stream = new MemoryStream();
            stream.WriteByte(0);
            Span<byte> idBytes = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(idBytes, id);
            stream.Write(idBytes);
            stream.Write(path);
            var output = new CodedOutputStream(stream, leaveOpen: true);
            void Text(int number, string value)
            {
                output.WriteTag(number, WireFormat.WireType.LengthDelimited);
                output.WriteString(value);
            }

            Text(evolved ? 4 : 1, e.User);
            Text(evolved ? 5 : 2, e.Merchant);
            Text(evolved ? 3 : 5, evolved ? "tablet" : "a tag");
            output.WriteTag(evolved ? 2 : 3, WireFormat.WireType.Fixed64);
            output.WriteDouble(e.Amount);
            Text(evolved ? 6 : 4, e.Country);
            output.WriteTag(evolved ? 1 : 6, WireFormat.WireType.LengthDelimited);
            output.WriteMessage(Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(e.Time)));
            output.Flush();
            return stream.ToArray();
        }

        public void Dispose() => _client.Dispose();
    }
}
