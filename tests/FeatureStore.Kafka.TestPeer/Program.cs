using System.Runtime.InteropServices;
using Confluent.Kafka;

// Usage: FeatureStore.Kafka.TestPeer BOOTSTRAP GROUP TOPIC
// Joins GROUP, prints `assigned P,Q` on each assignment and `msg PARTITION:OFFSET:KEY` per message, stores
// the offset only after printing, and on SIGTERM leaves the group cleanly (final commit), exit code 0.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: BOOTSTRAP GROUP TOPIC");
    return 2;
}

using var stop = new CancellationTokenSource();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

var config = new ConsumerConfig
{
    BootstrapServers = args[0],
    GroupId = args[1],
    AutoOffsetReset = AutoOffsetReset.Earliest,
    EnableAutoCommit = true,
    AutoCommitIntervalMs = 200,
    EnableAutoOffsetStore = false,
    SessionTimeoutMs = 6000,
    HeartbeatIntervalMs = 1000,
    PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
};
using var consumer = new ConsumerBuilder<string, string>(config)
    .SetPartitionsAssignedHandler((c, partitions) =>
        Console.WriteLine("assigned " + string.Join(",", c.Assignment.Concat(partitions).Select(p => p.Partition.Value).Distinct().Order())))
    .Build();
consumer.Subscribe(args[2]);
try
{
    while (!stop.IsCancellationRequested)
    {
        var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
        if (result is null)
        {
            continue;
        }

        Console.WriteLine($"msg {result.Partition.Value}:{result.Offset.Value}:{result.Message.Key}");
        consumer.StoreOffset(result);
    }
}
finally
{
    consumer.Close();
    Console.WriteLine("closed");
}

return 0;
