using System.Diagnostics;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events.Payloads;
using FeatureStore.Kafka.SchemaRegistry;
using FeatureStore.Testing;

namespace FeatureStore.Kafka.Tests.SchemaRegistry;

/// <summary>
/// The writer-schema resolver, Confluent's client against the minimal registry endpoint: a registered id answers its
/// schema and type, an id the registry lacks (40403) is null, and a registry that is down, or answers something else,
/// is "unavailable" — never an unknown id — until it is back.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SchemaRegistryResolverTests
{
    private const string Avro = """{"type": "record", "name": "E", "fields": [{"name": "ts", "type": "long"}]}""";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_registered_id_answers_its_schema_and_an_unknown_one_is_null()
    {
        await using var registry = await SchemaRegistryEndpoint.StartAsync(Ct);
        var avro = registry.Register(Avro);
        var proto = registry.Register("syntax = \"proto3\"; message E { int64 ts = 1; }", "PROTOBUF");
        var resolver = SchemaRegistryResolvers.For(new SchemaRegistryDefinition([registry.Url], null));

        Assert.Equal(new WriterSchema(Avro, "AVRO"), resolver.Resolve(avro));
        Assert.Equal("PROTOBUF", resolver.Resolve(proto)!.Type);
        Assert.Null(resolver.Resolve(424_242));
        Assert.Same(resolver, SchemaRegistryResolvers.For(new SchemaRegistryDefinition([registry.Url], null)));
    }

    [Fact]
    public async Task A_registry_that_is_down_is_unavailable_until_it_is_back()
    {
        await using var registry = await SchemaRegistryEndpoint.StartAsync(Ct);
        var id = registry.Register(Avro);
        var resolver = SchemaRegistryResolvers.For(new SchemaRegistryDefinition([registry.Url], null));
        await registry.StopAsync();

        var clock = Stopwatch.StartNew();
        var down = Assert.Throws<SchemaRegistryUnavailableException>(() => resolver.Resolve(id));
        Assert.Contains(registry.Url, down.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");

        await registry.StartAgainAsync(Ct);
        clock.Restart();
        Assert.Equal(Avro, resolver.Resolve(id)!.Text);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    [Fact]
    public void Credentials_named_by_an_unset_variable_make_the_registry_unavailable_not_the_id_unknown()
    {
        var resolver = SchemaRegistryResolvers.For(new SchemaRegistryDefinition(["http://127.0.0.1:9"], "FEATURESTORE_TEST_UNSET_" + Guid.NewGuid().ToString("N")));
        var error = Assert.Throws<SchemaRegistryUnavailableException>(() => resolver.Resolve(1));
        Assert.Contains("is not set", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_is_no_registry_is_unavailable_not_an_unknown_id()
    {
        // Another HTTP server behind a wrong URL: its 404 carries no registry error code.
        await using var registry = await SchemaRegistryEndpoint.StartAsync(Ct);
        var resolver = SchemaRegistryResolvers.For(new SchemaRegistryDefinition([registry.Url + "/not-the-registry"], null));
        Assert.Throws<SchemaRegistryUnavailableException>(() => resolver.Resolve(1));
    }
}
