namespace FeatureStore.Contracts.Wire;

/// <summary>
/// The tags of the online lookup messages (schemas/featurestore/v1/online.proto, and the
/// <c>google.protobuf.Timestamp</c> they carry) that the client's and the server's hand-written codecs read
/// and write: field number &lt;&lt; 3 | wire type (0 varint, 1 fixed 64-bit, 2 length-delimited). All fit in one byte.
/// </summary>
public static class OnlineWire
{
    /// <summary><c>GetOnlineFeaturesRequest.features</c>.</summary>
    public const byte RequestFeatures = (1 << 3) | 2;

    /// <summary><c>GetOnlineFeaturesRequest.model</c>.</summary>
    public const byte RequestModel = (2 << 3) | 2;

    /// <summary><c>GetOnlineFeaturesRequest.entities</c>.</summary>
    public const byte RequestEntities = (3 << 3) | 2;

    /// <summary><c>GetOnlineFeaturesRequest.as_of</c>.</summary>
    public const byte RequestAsOf = (4 << 3) | 2;

    /// <summary><c>EntityRow.join_keys</c>: one map entry per field.</summary>
    public const byte EntityJoinKeys = (1 << 3) | 2;

    /// <summary><c>EntityRow.request_context</c> (2, length-delimited map entry; its value a <c>google.protobuf.Value</c>).</summary>
    public const byte EntityRequestContext = (2 << 3) | 2;

    /// <summary><c>google.protobuf.Value.null_value</c> (1, varint).</summary>
    public const byte ProtoValueNull = 1 << 3;

    /// <summary><c>google.protobuf.Value.number_value</c> (2, fixed64).</summary>
    public const byte ProtoValueNumber = (2 << 3) | 1;

    /// <summary><c>google.protobuf.Value.string_value</c> (3, length-delimited).</summary>
    public const byte ProtoValueString = (3 << 3) | 2;

    /// <summary><c>google.protobuf.Value.bool_value</c> (4, varint).</summary>
    public const byte ProtoValueBool = 4 << 3;

    /// <summary>A map entry's key.</summary>
    public const byte MapKey = (1 << 3) | 2;

    /// <summary>A map entry's value.</summary>
    public const byte MapValue = (2 << 3) | 2;

    /// <summary><c>GetOnlineFeaturesResponse.feature_names</c>.</summary>
    public const byte ResponseFeatureNames = (1 << 3) | 2;

    /// <summary><c>GetOnlineFeaturesResponse.rows</c>.</summary>
    public const byte ResponseRows = (2 << 3) | 2;

    /// <summary><c>GetOnlineFeaturesResponse.evaluated_at</c>.</summary>
    public const byte ResponseEvaluatedAt = (3 << 3) | 2;

    /// <summary><c>GetOnlineFeaturesResponse.registry_version</c>.</summary>
    public const byte ResponseRegistryVersion = 4 << 3;

    /// <summary><c>FeatureRow.values</c>.</summary>
    public const byte RowValues = (1 << 3) | 2;

    /// <summary><c>FeatureValue.status</c>.</summary>
    public const byte ValueStatus = 1 << 3;

    /// <summary><c>FeatureValue.double_value</c>.</summary>
    public const byte ValueDouble = (2 << 3) | 1;

    /// <summary><c>FeatureValue.int64_value</c>.</summary>
    public const byte ValueInt64 = 3 << 3;

    /// <summary><c>FeatureValue.string_value</c>.</summary>
    public const byte ValueString = (4 << 3) | 2;

    /// <summary><c>FeatureValue.bool_value</c>.</summary>
    public const byte ValueBool = 5 << 3;

    /// <summary><c>FeatureValue.string_list_value</c> (a <c>StringList</c>).</summary>
    public const byte ValueStringList = (7 << 3) | 2;

    /// <summary><c>FeatureValue.double_list_value</c> (a <c>DoubleList</c>).</summary>
    public const byte ValueDoubleList = (8 << 3) | 2;

    /// <summary><c>FeatureValue.counts_value</c> (a <c>ValueCounts</c>).</summary>
    public const byte ValueCounts = (9 << 3) | 2;

    /// <summary><c>FeatureValue.int64_list_value</c> (an <c>Int64List</c>).</summary>
    public const byte ValueInt64List = (10 << 3) | 2;

    /// <summary><c>StringList.values</c>, <c>DoubleList.values</c> and <c>Int64List.values</c> (packed) and <c>ValueCounts.counts</c> (map entries).</summary>
    public const byte ListValues = (1 << 3) | 2;

    /// <summary>A map entry's int64 value (<c>ValueCounts.counts</c>).</summary>
    public const byte MapInt64Value = 2 << 3;

    /// <summary><c>FeatureValue.event_timestamp</c>.</summary>
    public const byte ValueEventTimestamp = (6 << 3) | 2;

    /// <summary><c>google.protobuf.Timestamp.seconds</c>.</summary>
    public const byte TimestampSeconds = 1 << 3;

    /// <summary><c>google.protobuf.Timestamp.nanos</c>.</summary>
    public const byte TimestampNanos = 2 << 3;

    /// <summary><c>LookupBatch.lookups</c>.</summary>
    public const byte BatchLookups = (1 << 3) | 2;

    /// <summary><c>LookupBatchResult.results</c>.</summary>
    public const byte BatchResults = (1 << 3) | 2;

    /// <summary><c>StreamedLookup.response</c>.</summary>
    public const byte StreamedResponse = (1 << 3) | 2;

    /// <summary><c>StreamedLookup.error</c>.</summary>
    public const byte StreamedError = (2 << 3) | 2;

    /// <summary><c>LookupError.code</c>.</summary>
    public const byte ErrorCode = 1 << 3;

    /// <summary><c>LookupError.message</c>.</summary>
    public const byte ErrorMessage = (2 << 3) | 2;
}
