using Confluent.Kafka;
using FeatureStore.Testing;

namespace FeatureStore.Kafka.Tests;

/// <summary>
/// `featurestore kafka-embedded` as its own process, used by clients in other processes: a producer here
/// and a two-member consumer group of separate processes.
/// </summary>
[Trait("Category", "Integration")]
public sealed class KafkaEmbeddedProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Prints_bootstrap_servers_first_and_stops_cleanly_on_sigterm()
    {
        await using var broker = StartBroker("--brokers", "2", "--topics", "a,b");
        var first = await broker.WaitForLineAsync(_ => true, Patience, Ct);
        Assert.Matches(@"^bootstrap\.servers=127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$", first);

        broker.Terminate();
        Assert.Equal(0, await broker.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct));
    }

    [Fact]
    public async Task Two_member_group_in_separate_processes_consumes_every_message_exactly_once()
    {
        await using var broker = StartBroker("--partitions", "4", "--topics", "orders");
        var bootstrap = await BootstrapAsync(broker);
        Produce(bootstrap, "orders", 0, 2000);

        var group = EmbeddedKafkaFixture.UniqueTopic("group");
        await using var a = ChildProcess.StartDotnet(TestPrograms.TestPeer, [bootstrap, group, "orders"]);
        await using var b = ChildProcess.StartDotnet(TestPrograms.TestPeer, [bootstrap, group, "orders"]);

        await Eventually.TrueAsync(() => Consumed(a, b).Count >= 2000, Patience, "2000 messages consumed across the group", Ct);
        // Both members took part once the group settled (cooperative rebalance splits the 4 partitions).
        await a.WaitForLineAsync(l => l.StartsWith("assigned ", StringComparison.Ordinal), Patience, Ct);
        await b.WaitForLineAsync(l => l.StartsWith("assigned ", StringComparison.Ordinal), Patience, Ct);

        AssertExactlyOnce(Consumed(a, b), 2000);
    }

    [Fact]
    public async Task A_member_leaving_triggers_a_rebalance_that_loses_nothing()
    {
        await using var broker = StartBroker("--partitions", "4", "--topics", "payments");
        var bootstrap = await BootstrapAsync(broker);
        var group = EmbeddedKafkaFixture.UniqueTopic("group");
        await using var a = ChildProcess.StartDotnet(TestPrograms.TestPeer, [bootstrap, group, "payments"]);
        await using var b = ChildProcess.StartDotnet(TestPrograms.TestPeer, [bootstrap, group, "payments"]);

        // Wait until the group is split between the two members, then produce the first half.
        await Eventually.TrueAsync(() => HasPartitions(a) && HasPartitions(b), Patience, "both members assigned partitions", Ct);
        Produce(bootstrap, "payments", 0, 1000);
        await Eventually.TrueAsync(() => Consumed(a, b).Count >= 1000, Patience, "first half consumed", Ct);

        // Member a leaves cleanly; b takes over its partitions and the second half.
        a.Terminate();
        Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct));
        Produce(bootstrap, "payments", 1000, 1000);
        await Eventually.TrueAsync(() => Consumed(a, b).Count >= 2000, Patience, "second half consumed by the remaining member", Ct);

        var fromB = Consumed(b).Select(m => m.Partition).Distinct().Count();
        Assert.Equal(4, fromB);
        AssertExactlyOnce(Consumed(a, b), 2000);
    }

    private static ChildProcess StartBroker(params string[] args) =>
        ChildProcess.StartDotnet(TestPrograms.Cli, ["kafka-embedded", .. args]);

    private static async Task<string> BootstrapAsync(ChildProcess broker)
    {
        var line = await broker.WaitForLineAsync(l => l.StartsWith("bootstrap.servers=", StringComparison.Ordinal), Patience, Ct);
        return line["bootstrap.servers=".Length..];
    }

    private static void Produce(string bootstrap, string topic, int from, int count)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            Acks = Acks.All,
        }).Build();
        for (var i = from; i < from + count; i++)
        {
            producer.Produce(topic, new Message<string, string> { Key = $"k{i}", Value = $"{i}" });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
    }

    private static bool HasPartitions(ChildProcess peer) =>
        peer.Lines.Any(l => l.StartsWith("assigned ", StringComparison.Ordinal) && l.Length > "assigned ".Length);

    private static List<(int Partition, long Offset, string Key)> Consumed(params ChildProcess[] peers) =>
        [.. peers.SelectMany(p => p.Lines)
            .Where(l => l.StartsWith("msg ", StringComparison.Ordinal))
            .Select(l => l[4..].Split(':'))
            .Select(parts => (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), parts[2]))];

    private static void AssertExactlyOnce(List<(int Partition, long Offset, string Key)> consumed, int expected)
    {
        var duplicates = consumed.GroupBy(m => m.Key).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"consumed more than once: {string.Join(", ", duplicates.Take(10))}");
        Assert.Equal(expected, consumed.Count);
        Assert.Equal(Enumerable.Range(0, expected).Select(i => $"k{i}").Order(), consumed.Select(m => m.Key).Order());
    }
}
