using System.Buffers;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Serving.Internal;
using Google.Protobuf;
using Grpc.Core;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;

namespace FeatureStore.Serving.Tests;

/// <summary>The lookup stream's messages, written and read by hand on both sides, against the generated code's.</summary>
public sealed class LookupStreamWireUnitTests
{
    private static readonly string[] Texts = ["", "u1", "user_stats:n_1h", "Zürich", "日本", "a|b", new string('x', 130)];

    [Fact]
    public void The_servers_batch_results_are_the_bytes_the_generated_code_writes()
    {
        var random = new Random(5);
        for (var i = 0; i < 300; i++)
        {
            var results = new LookupResult[random.Next(i % 10 == 0 ? 70 : 6)];
            var expected = new LookupBatchResult();
            for (var r = 0; r < results.Length; r++)
            {
                if (random.Next(3) == 0)
                {
                    var code = new[] { StatusCode.InvalidArgument, StatusCode.PermissionDenied, StatusCode.ResourceExhausted, StatusCode.Unavailable, StatusCode.Internal }[random.Next(5)];
                    var message = Texts[random.Next(Texts.Length)] + (random.Next(4) == 0 ? new string('m', random.Next(300)) : "");
                    results[r] = new LookupResult(code, message);
                    expected.Results.Add(new StreamedLookup { Error = new LookupError { Code = (int)code, Message = message } });
                }
                else
                {
                    var answer = RandomAnswer(random);
                    expected.Results.Add(new StreamedLookup { Response = answer.ToResponse() });
                    results[r] = new LookupResult(answer);
                }
            }

            var context = new BufferContext();
            LookupAnswerEncoding.BatchMarshaller.ContextualSerializer(results, context);
            var generated = expected.ToByteArray();
            Assert.True(generated.AsSpan().SequenceEqual(context.Written.WrittenSpan),
                $"batch {i} ({results.Length} results): {context.Written.WrittenCount} bytes written against {generated.Length}, first difference at {generated.AsSpan().CommonPrefixLength(context.Written.WrittenSpan)}");
            Assert.Equal(generated.Length, context.PayloadLength);
            Assert.All(results, r => Assert.True(r.Answer is null || Released(r.Answer)));
        }
    }

    [Fact]
    public void The_clients_batches_are_the_bytes_the_generated_code_writes_and_the_server_reads_them_back()
    {
        var random = new Random(8);
        for (var i = 0; i < 300; i++)
        {
            var expected = new LookupBatch();
            var pending = new LookupStream.Pending[random.Next(i % 10 == 0 ? 70 : 6)];
            for (var p = 0; p < pending.Length; p++)
            {
                string[] features = [.. Enumerable.Range(0, 1 + random.Next(3)).Select(_ => Texts[random.Next(Texts.Length)])];
                string[] keys = [.. Enumerable.Range(0, random.Next(5)).Select(_ => Texts[random.Next(Texts.Length)])];
                var message = new GetOnlineFeaturesRequest { Features = { features } };
                message.Entities.AddRange(keys.Select(k => new EntityRow { JoinKeys = { ["user_id"] = k } }));
                if (random.Next(2) == 0)
                {
                    pending[p] = new LookupStream.Pending(message);
                }
                else
                {
                    pending[p] = new LookupStream.Pending(new KeyedLookupRequest(features, "user_id", keys, null));
                }

                expected.Lookups.Add(message);
            }

            var context = new BufferContext();
            LookupStream.BatchMarshaller.ContextualSerializer(pending, context);
            Assert.Equal(expected.ToByteArray(), context.Written.WrittenSpan.ToArray());
            Assert.Equal(context.Written.WrittenCount, context.PayloadLength);

            var parsed = LookupRequest.ParseBatch(new ReadOnlySequence<byte>(context.Written.WrittenMemory));
            Assert.Equal(expected.Lookups.Count, parsed.Count);
            for (var p = 0; p < parsed.Count; p++)
            {
                Assert.Equal(expected.Lookups[p].Features, parsed[p].Features);
                Assert.Equal(expected.Lookups[p].Entities.Count, parsed[p].Rows);
                for (var e = 0; e < parsed[p].Rows; e++)
                {
                    Assert.Equal(expected.Lookups[p].Entities[e].JoinKeys, parsed[p].JoinKeys(e));
                }
            }
        }
    }

    [Fact]
    public void The_client_reads_each_result_of_a_batch_in_order()
    {
        var response = new GetOnlineFeaturesResponse { FeatureNames = { "v:a" }, RegistryVersion = 3 };
        response.Rows.Add(new FeatureRow { Values = { new FeatureValue { Status = FeatureStatus.Present, DoubleValue = 1.5 } } });
        var batch = new LookupBatchResult
        {
            Results =
            {
                new StreamedLookup { Response = response },
                new StreamedLookup { Error = new LookupError { Code = 8, Message = "too many rows" } },
                new StreamedLookup { Response = new GetOnlineFeaturesResponse() },
            },
        };

        var answers = LookupStream.Answer.ReadBatch(new ReadOnlySequence<byte>(batch.ToByteArray()));

        Assert.Equal(3, answers.Length);
        Assert.Equal(response, answers[0].Set!.Response);
        Assert.Equal(1.5, answers[0].Set!.GetDouble(0, "v:a"));
        Assert.Null(answers[1].Set);
        Assert.Equal(StatusCode.ResourceExhausted, answers[1].Error!.StatusCode);
        Assert.Equal("too many rows", answers[1].Error!.Status.Detail);
        Assert.Equal(0, answers[2].Set!.RowCount);
        Assert.Empty(LookupStream.Answer.ReadBatch(ReadOnlySequence<byte>.Empty));

        // A result holding neither field, or a field cut short, is an error, never a silent answer.
        var empty = new LookupBatchResult { Results = { new StreamedLookup() } }.ToByteArray();
        Assert.Throws<InvalidDataException>(() => LookupStream.Answer.ReadBatch(new ReadOnlySequence<byte>(empty)));
        var bytes = batch.ToByteArray();
        Assert.Throws<InvalidDataException>(() => LookupStream.Answer.ReadBatch(new ReadOnlySequence<byte>(bytes.AsMemory(0, bytes.Length - 2))));
    }

    private static LookupAnswer RandomAnswer(Random random)
    {
        CoreValue[] cells =
        [
            CoreValue.Of(2.5, 1_700_000_000_123L), CoreValue.Of(-1e300, -1L), CoreValue.Of(7L, 1_000L), CoreValue.Of(-3L, null),
            CoreValue.Of("FR", 5L), CoreValue.Of("zürich ✓ 日本", 999L), CoreValue.Null(Core.Windows.ValueStatus.NullValue, 12L),
            CoreValue.Null(Core.Windows.ValueStatus.NotFound), CoreValue.Null(Core.Windows.ValueStatus.OutsideTtl, -1_000L),
        ];
        var columns = 1 + random.Next(4);
        var rows = random.Next(4);
        var values = ArrayPool<CoreValue>.Shared.Rent(Math.Max(1, rows * columns));
        for (var k = 0; k < rows * columns; k++)
        {
            values[k] = cells[random.Next(cells.Length)];
        }

        string[] names = [.. Enumerable.Range(0, columns).Select(c => $"view:f{c}")];
        return new LookupAnswer(names, [.. Enumerable.Range(0, columns)], values, rows, columns, 1_700_000_000_000L + random.Next(1000), random.Next(3));
    }

    private static bool Released(LookupAnswer answer)
    {
        try
        {
            _ = answer.Value(0, 0);
            return answer.Rows == 0;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
        catch (IndexOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary>A serialization context over an array buffer, as gRPC's transport provides one.</summary>
    private sealed class BufferContext : SerializationContext
    {
        public ArrayBufferWriter<byte> Written { get; } = new();

        public int PayloadLength { get; private set; } = -1;

        public override void SetPayloadLength(int payloadLength) => PayloadLength = payloadLength;

        public override IBufferWriter<byte> GetBufferWriter() => Written;

        public override void Complete()
        {
        }

        public override void Complete(byte[] payload) => Written.Write(payload);
    }
}
