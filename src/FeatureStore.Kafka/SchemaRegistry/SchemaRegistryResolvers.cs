using System.Collections.Concurrent;
using Confluent.SchemaRegistry;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events.Payloads;

namespace FeatureStore.Kafka.SchemaRegistry;

/// <summary>
/// The one home of the Schema Registry clients: one <see cref="CachedSchemaRegistryClient"/> per registry (its URLs and
/// credentials' variable) for the whole process, so that ingest, the archiver, push and the monitor of one process ask
/// each schema id once between them.
/// </summary>
public static class SchemaRegistryResolvers
{
    /// <summary>How long one request to the registry may take before the registry counts as unreachable.</summary>
    public static TimeSpan RequestTimeout { get; } = TimeSpan.FromSeconds(10);

    private static readonly ConcurrentDictionary<string, Lazy<ConfluentWriterSchemaResolver>> Shared = new(StringComparer.Ordinal);

    /// <summary>The resolver of <paramref name="registry"/>, shared by every caller of this process.</summary>
    public static IWriterSchemaResolver For(SchemaRegistryDefinition registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return Shared.GetOrAdd(registry.Identity, _ => new Lazy<ConfluentWriterSchemaResolver>(() => new ConfluentWriterSchemaResolver(registry))).Value;
    }

    /// <summary>Attaches the shared resolvers to every source of <paramref name="repository"/> that reads a registry.</summary>
    public static CompiledRepository Attach(CompiledRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        repository.AttachWriterSchemas(For);
        return repository;
    }
}

/// <summary>
/// Asks a Schema Registry for a writer schema by id through Confluent's client (<c>GET /schemas/ids/{id}</c>). The
/// call is made once per id by <see cref="RegistryDecoder"/> (which keeps the compiled answer), on the consuming
/// thread, which waits for it as it waits for the broker: Confluent's own deserializers do the same in a consumer
/// (<c>AsSyncOverAsync</c>).
/// </summary>
internal sealed class ConfluentWriterSchemaResolver : IWriterSchemaResolver
{
    private const int SchemaNotFound = 40403;
    private readonly SchemaRegistryDefinition _registry;
    private readonly CachedSchemaRegistryClient? _client;
    private readonly string? _configurationError;

    public ConfluentWriterSchemaResolver(SchemaRegistryDefinition registry)
    {
        _registry = registry;
        var config = new SchemaRegistryConfig
        {
            Url = string.Join(",", registry.Urls),
            RequestTimeoutMs = (int)SchemaRegistryResolvers.RequestTimeout.TotalMilliseconds,
        };
        if (registry.BasicAuthEnv is { } variable)
        {
            var userInfo = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrEmpty(userInfo) || !userInfo.Contains(':', StringComparison.Ordinal))
            {
                // Reported at the first event that needs the registry, as an unreachable registry is: the job waits, judges nothing.
                _configurationError = $"the environment variable {variable} (schema_registry.basic_auth_env) is not set to USER:PASSWORD";
                return;
            }

            config.BasicAuthCredentialsSource = AuthCredentialsSource.UserInfo;
            config.BasicAuthUserInfo = userInfo;
        }

        _client = new CachedSchemaRegistryClient(config);
    }

    public WriterSchema? Resolve(int schemaId)
    {
        if (_client is null)
        {
            throw new SchemaRegistryUnavailableException(_configurationError!);
        }

        try
        {
            var schema = Task.Run(() => _client.GetSchemaAsync(schemaId)).GetAwaiter().GetResult();
            return new WriterSchema(schema.SchemaString, schema.SchemaType.ToString().ToUpperInvariant());
        }
        catch (SchemaRegistryException ex) when (ex.ErrorCode == SchemaNotFound)
        {
            return null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Anything but the registry's own "schema not found" (40403): a 404 of another server behind a wrong URL,
            // refused credentials, a timeout. None of them says the id is unknown, so no event is dead-lettered for it.
            throw new SchemaRegistryUnavailableException(
                $"the Schema Registry at {string.Join(",", _registry.Urls)} did not answer for schema id {schemaId}: {ex.Message}", ex);
        }
    }
}
