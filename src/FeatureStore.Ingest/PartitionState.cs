using Confluent.Kafka;
using FeatureStore.Core.Events;
using FeatureStore.Core.Streaming;

namespace FeatureStore.Ingest;

/// <summary>What the ingest member knows of one partition it owns: where it reads, what it stored, what it counted.</summary>
internal sealed class PartitionState(TopicPartition partition, SourceBinding source, EventParser parser, LatenessPolicy lateness)
{
    public TopicPartition Partition { get; } = partition;

    public SourceBinding Source { get; } = source;

    public EventParser Parser { get; } = parser;

    public LatenessPolicy Lateness { get; } = lateness;

    /// <summary>Read from in the batch being collected.</summary>
    public bool Advanced { get; set; }

    public int AcceptedInBatch { get; set; }

    /// <summary>Of <see cref="AcceptedInBatch"/>, those below <see cref="AppliedBelow"/>.</summary>
    public int ReplayedInBatch { get; set; }

    /// <summary>The group's offset committed in Kafka at assignment: events below were applied before.</summary>
    public long AppliedBelow { get; set; }

    public bool Loaded { get; set; }

    /// <summary>When it was last resumed from its checkpoint (<see cref="Environment.TickCount64"/>).</summary>
    public long ResumedTicks { get; set; }

    public PartitionCheckpoint? Stored { get; set; }

    public long NextOffset { get; set; }

    public long? NewestEventMs { get; set; }

    public long? LastWriteMs { get; set; }

    public long Lag { get; set; } = -1;

    /// <summary>The topic incarnation the offsets count in (null when unknown).</summary>
    public string? Incarnation { get; set; }

    /// <summary>Added to this incarnation's offsets where the log order counts.</summary>
    public long OffsetBase { get; set; }

    /// <summary>One past the newest offset this member dead-lettered for the partition.</summary>
    public long DeadLetteredBelow { get; set; }
}
