using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using Parquet.Schema;

namespace FeatureStore.Parquet.EventLog;

/// <summary>
/// The columns of a source's event-log files: every typed field of the source (nullable: a field may be
/// missing or null in an event), then the event time and where the event sits in Kafka. Strings are UTF-8
/// strings, ints and timestamps 64-bit integers (timestamps in epoch ms, UTC), doubles and bools as such.
/// </summary>
internal sealed class EventLogSchema
{
    public const string EventTimeColumn = "_event_time_ms";
    public const string TopicColumn = "_topic";
    public const string PartitionColumn = "_partition";
    public const string OffsetColumn = "_offset";

    public EventLogSchema(SourceDefinition source)
    {
        Source = source;
        FieldColumns = [.. source.Fields.Select(f => new DataField(f.Name, ClrType(f.Kind), isNullable: true))];
        EventTime = new DataField<long>(EventTimeColumn);
        Topic = new DataField<string>(TopicColumn, nullable: false);
        Partition = new DataField<int>(PartitionColumn);
        Offset = new DataField<long>(OffsetColumn);
        Schema = new ParquetSchema([.. FieldColumns, EventTime, Topic, Partition, Offset]);
    }

    public SourceDefinition Source { get; }

    public DataField[] FieldColumns { get; }

    public DataField EventTime { get; }

    public DataField Topic { get; }

    public DataField Partition { get; }

    public DataField Offset { get; }

    public ParquetSchema Schema { get; }

    public static Type ClrType(FieldKind kind) => kind switch
    {
        FieldKind.String => typeof(string),
        FieldKind.Double => typeof(double),
        FieldKind.Bool => typeof(bool),
        _ => typeof(long),
    };
}
