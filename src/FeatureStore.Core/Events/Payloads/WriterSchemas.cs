namespace FeatureStore.Core.Events.Payloads;

// The writer's schema of a Confluent-framed payload, named by the schema id in its header: Core says what it needs
// (the schema's text for an id), an adapter asks a Schema Registry for it. No network type crosses this line.

/// <summary>A schema as a Schema Registry holds it: its text and its type.</summary>
/// <param name="Text">The Avro schema JSON or the <c>.proto</c> text.</param>
/// <param name="Type">Confluent's schema type: <c>AVRO</c>, <c>PROTOBUF</c> or <c>JSON</c>.</param>
public sealed record WriterSchema(string Text, string Type);

/// <summary>Finds the writer schema registered under a schema id.</summary>
public interface IWriterSchemaResolver
{
    /// <summary>
    /// The schema registered under <paramref name="schemaId"/>, or null when the registry has none. A
    /// <see cref="RegistryDecoder"/> asks once per id and keeps the answer, so an implementation may wait on the network
    /// here. Throws <see cref="SchemaRegistryUnavailableException"/> when the registry cannot answer.
    /// </summary>
    WriterSchema? Resolve(int schemaId);
}

/// <summary>
/// The Schema Registry could not be asked (down, a timeout, refused credentials): the event is not judged, the job
/// stops reading and retries; nothing is dead-lettered for it.
/// </summary>
public sealed class SchemaRegistryUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
