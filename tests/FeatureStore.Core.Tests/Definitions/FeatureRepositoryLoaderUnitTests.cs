using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Tests.Definitions;

public sealed class FeatureRepositoryLoaderUnitTests
{
    private static LoadResult Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");

    private static Diagnostic Single(string text, string code)
    {
        var result = Load(text);
        Assert.Null(result.Repository);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(code, diagnostic.Code);
        return diagnostic;
    }

    private static string Replace(string from, string to)
    {
        Assert.Contains(from, RepositoryFiles.Minimal, StringComparison.Ordinal);
        return RepositoryFiles.Minimal.Replace(from, to, StringComparison.Ordinal);
    }

    [Fact]
    public void The_example_repository_is_valid()
    {
        var result = FeatureRepositoryLoader.Load(RepositoryFiles.ExamplePath);
        Assert.Empty(result.Diagnostics);
        var repo = Assert.IsType<FeatureRepository>(result.Repository);
        Assert.Equal("fraud", repo.Project);
        Assert.Equal(["user", "merchant"], repo.Entities.Select(e => e.Name));
        var view = repo.FindView("user_txn_stats")!;
        Assert.Equal(new WindowSpec(3_600_000, 60_000), view.FindFeature("amount_sum_1h")!.Window);
        Assert.Equal(new WindowSpec(86_400_000, 3_600_000), view.FindFeature("amount_mean_24h")!.Window); // default hop: 1h for 24h
        Assert.True(view.FindFeature("txn_count_lifetime")!.Window.IsLifetime);
        Assert.Equal(8, repo.FindModel("fraud_detector")!.Versions[0].Features.Count);
    }

    [Fact]
    public void The_minimal_repository_resolves_defaults()
    {
        var repo = Load(RepositoryFiles.Minimal).Repository!;
        var source = repo.Sources[0];
        Assert.Equal(("orders.dlq", "json", TimestampFormat.Rfc3339), (source.DeadLetterTopic, source.Format, source.TimestampFormat));
        Assert.Equal(new WindowSpec(3_600_000, 300_000), repo.FeatureViews[0].Features[0].Window);
        Assert.Equal(600_000, repo.Webhooks[0].CooldownMs);
        Assert.Equal(RepositorySettings.Default, repo.Settings);
        Assert.Equal(10, repo.Models[0].Monitors[0].Bins);
    }

    [Fact]
    public void Three_mistakes_are_reported_together_with_their_positions()
    {
        var text = RepositoryFiles.Minimal
            .Replace("aggregation: sum", "aggregation: summ", StringComparison.Ordinal)
            .Replace("hop: 10m", "hop: 7m", StringComparison.Ordinal)
            .Replace("ttl: 1d", "ttl: 1 day", StringComparison.Ordinal);
        var result = Load(text);

        Assert.Null(result.Repository);
        Assert.Collection(
            result.Diagnostics,
            d => Assert.Equal((19, 10, "FS0010", "write 1d"), (d.Line, d.Column, d.Code, d.Hint)),
            d => Assert.Equal((25, 22, "FS0103", "did you mean 'sum'?"), (d.Line, d.Column, d.Code, d.Hint)),
            d => Assert.Equal((28, 14, "FS0106"), (d.Line, d.Column, d.Code)));
        Assert.Equal("repo.yaml:25:22: error FS0103: unknown aggregation 'summ' (hint: did you mean 'sum'?)", result.Diagnostics[1].ToString());
    }

    [Fact]
    public void Yaml_syntax_errors_have_a_position()
    {
        var d = Single("project: a\nentities:\n  - name: x\n    join_keys: [a]\n   bad: indentation\n", "FS0001");
        Assert.Equal(5, d.Line);
    }

    [Fact]
    public void Unknown_keys_suggest_the_closest_known_key()
    {
        var d = Single(Replace("        aggregation: count", "        agregation: count"), "FS0003");
        Assert.Equal("did you mean 'aggregation'?", d.Hint);
    }

    [Fact]
    public void Missing_required_keys_are_named() =>
        Assert.Contains("'timestamp_field'", Single(Replace("    timestamp_field: ts\n", ""), "FS0004").Message, StringComparison.Ordinal);

    [Fact]
    public void Unknown_entity_and_source_references_are_errors()
    {
        Assert.Equal("did you mean 'user'?", Single(Replace("    entity: user", "    entity: usr"), "FS0101").Hint);
        Assert.Equal("did you mean 'orders'?", Single(Replace("    source: orders", "    source: order"), "FS0102").Hint);
    }

    [Fact]
    public void A_feature_must_name_an_existing_field_of_the_right_type()
    {
        Assert.Equal("did you mean 'amount'?", Single(Replace("field: amount", "field: amout"), "FS0104").Hint);
        Assert.Contains("needs a numeric field", Single(Replace("field: amount", "field: note"), "FS0105").Message, StringComparison.Ordinal);
        Single(Replace("        aggregation: count\n        window: 1h", "        aggregation: count\n        field: amount\n        window: 1h"), "FS0104");
        Single(Replace("        field: amount\n", ""), "FS0104");
    }

    [Fact]
    public void Ttl_shorter_than_the_longest_window_is_an_error()
    {
        var d = Single(Replace("ttl: 1d", "ttl: 30m"), "FS0107");
        Assert.Equal("write ttl: 1h or more", d.Hint);
    }

    [Fact]
    public void Source_must_carry_the_entity_join_keys() =>
        Single(Replace("      user_id: string\n", ""), "FS0108");

    [Fact]
    public void Duplicate_names_point_at_the_first_declaration()
    {
        var text = Replace("      - name: amount_sum_1h", "      - name: order_count_1h");
        var d = Single(text, "FS0100");
        Assert.Contains("first declared at line 21", d.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5 minutes", "write 5m")]
    [InlineData("5", "write a duration such as 5m, 1h or 7d (units: d, h, m, s, ms)")]
    [InlineData("-1h", "write a duration such as 5m, 1h or 7d (units: d, h, m, s, ms)")]
    [InlineData("1h1d", "write units largest first, each once, e.g. 1h30m")]
    public void Bad_durations_get_a_hint(string duration, string hint) =>
        Assert.Equal(hint, Single(Replace("window: 1h\n      - name: amount", $"window: {duration}\n      - name: amount"), "FS0010").Hint);

    [Fact]
    public void Model_feature_references_must_exist()
    {
        Assert.Equal("did you mean 'order_count_1h'?", Single(Replace("features: [user_orders:order_count_1h]", "features: [user_orders:order_count_2h]"), "FS0120").Hint);
        Single(Replace("features: [user_orders:order_count_1h]", "features: [nope:x]"), "FS0120");
    }

    [Fact]
    public void A_view_name_stands_for_all_its_features()
    {
        var repo = Load(Replace("features: [user_orders:order_count_1h]", "features: [user_orders]")).Repository!;
        Assert.Equal(["user_orders:order_count_1h", "user_orders:amount_sum_1h"], repo.Models[0].Versions[0].Features);
    }

    [Fact]
    public void Monitor_columns_methods_windows_and_webhooks_are_checked()
    {
        Single(Replace("column: score", "column: scor"), "FS0121");
        Assert.Equal("did you mean 'psi'?", Single(Replace("methods: [psi]", "methods: [pis]"), "FS0122").Hint);
        Single(Replace("alert: pager", "alert: pagr"), "FS0123");
        Single(Replace("window: { count: 1000 }", "window: { count: 1000, size: 1h }"), "FS0126");
    }

    [Fact]
    public void Min_samples_must_be_a_whole_number_within_the_window_with_its_position()
    {
        var zero = Single(Replace("window: { count: 1000 }", "window: { count: 1000 }\n        min_samples: 0"), "FS0125");
        Assert.Contains("min_samples", zero.Message, StringComparison.Ordinal);
        var beyond = Single(Replace("window: { count: 1000 }", "window: { count: 1000 }\n        min_samples: 5000"), "FS0127");
        Assert.Equal(("repo.yaml", 42, 22), (beyond.File, beyond.Line, beyond.Column));
        Assert.Contains("min_samples", beyond.Hint, StringComparison.Ordinal);
        Assert.True(Load(Replace("window: { count: 1000 }", "window: { count: 1000 }\n        min_samples: 1000")).Success);
    }

    [Fact]
    public void A_learned_threshold_on_a_p_value_method_is_refused_with_its_position()
    {
        var ks = Single(Replace("methods: [psi]", "methods: [{ method: ks, threshold: learned }]"), "FS0128");
        Assert.Equal((40, 44), (ks.Line, ks.Column));
        Assert.Contains("significance level", ks.Hint, StringComparison.Ordinal);
        Single(Replace("methods: [psi]", "methods: [psi, { method: chi2, threshold: learned }]"), "FS0128");
        Assert.True(Load(Replace("methods: [psi]", "methods: [{ method: hellinger, threshold: learned }]")).Success);
    }

    [Fact]
    public void A_numeric_only_method_on_a_text_or_boolean_prediction_field_is_refused()
    {
        var text = Replace("        score: double\n", "        score: double\n        segment: string\n        flagged: bool\n")
            .Replace("column: score\n        methods: [psi]", "column: segment\n        methods: [psi, { method: ks, threshold: 0.01 }]", StringComparison.Ordinal);
        var ks = Single(text, "FS0129");
        Assert.Contains("segment", ks.Message, StringComparison.Ordinal);
        Assert.Contains("chi2", ks.Hint, StringComparison.Ordinal);
        Single(text.Replace("column: segment\n        methods: [psi, { method: ks, threshold: 0.01 }]", "column: flagged\n        methods: [wasserstein]", StringComparison.Ordinal), "FS0129");
        Assert.True(Load(text.Replace("{ method: ks, threshold: 0.01 }", "chi2", StringComparison.Ordinal)).Success);
    }

    [Fact]
    public void Webhook_urls_must_be_http()
    {
        Single(Replace("url: https://alerts.example.com/hook", "url: ftp://alerts.example.com"), "FS0124");
        Single(Replace("url: https://alerts.example.com/hook", "url: not a url"), "FS0124");
    }

    [Fact]
    public void Unknown_field_types_and_formats_are_errors()
    {
        Assert.Equal("did you mean 'double'?", Single(Replace("amount: double", "amount: doubel"), "FS0109").Hint);
        Single(Replace("    timestamp_field: ts\n", "    timestamp_field: ts\n    format: xml\n"), "FS0110");
        Single(Replace("    timestamp_field: ts\n", "    timestamp_field: ts\n    timestamp_format: iso\n"), "FS0112");
    }

    private const string AvroOrders = """{"type": "record", "name": "Order", "fields": [{"name": "user_id", "type": "string"}, {"name": "amount", "type": "double"}, {"name": "note", "type": ["null", "string"]}, {"name": "ts", "type": "string"}]}""";

    [Fact]
    public void An_avro_or_protobuf_source_is_checked_against_its_schema()
    {
        string Avro(string schema, string extra = "") => Replace("    timestamp_field: ts\n", $"    timestamp_field: ts\n    format: avro\n{extra}    schema: |\n      {schema}\n");
        var loaded = Load(Avro(AvroOrders, "    framing: confluent\n"));
        Assert.True(loaded.Success, string.Join("\n", loaded.Diagnostics));
        Assert.Equal(Core.Events.Payloads.PayloadFraming.Confluent, loaded.Repository!.Sources[0].Payload!.Framing);
        Assert.NotNull(CompiledRepository.Compile(loaded.Repository).Sources[0].Schema.Decoder);

        // The schema's text is part of the version: changing it changes the content hash.
        Assert.NotEqual(loaded.Repository.ContentHash(), Load(Avro(AvroOrders.Replace("Order", "Order2", StringComparison.Ordinal))).Repository!.ContentHash());

        Single(Replace("    timestamp_field: ts\n", "    timestamp_field: ts\n    format: avro\n"), "FS0116");
        Single(Avro(AvroOrders, "    framing: magic\n"), "FS0114");
        Single(Replace("    timestamp_field: ts\n", "    timestamp_field: ts\n    framing: confluent\n"), "FS0115");
        Single(Avro(AvroOrders, "    message: Order\n"), "FS0115");
        var missing = Single(Avro(AvroOrders.Replace("""{"name": "note", "type": ["null", "string"]}, """, "", StringComparison.Ordinal)), "FS0117");
        Assert.Contains("has no field 'note'", missing.Message, StringComparison.Ordinal);
        Single(Avro("{\"type\": \"recrd\"}"), "FS0117");

        // A .proto error is placed at its own line inside the block.
        var proto = Replace("    timestamp_field: ts\n", "    timestamp_field: ts\n    format: protobuf\n    schema: |\n      syntax = \"proto3\";\n      message Order {\n        string user_id = ;\n      }\n");
        var error = Single(proto, "FS0117");
        var line = proto.Split('\n').ToList().FindIndex(l => l.Contains("string user_id = ;", StringComparison.Ordinal)) + 1;
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public void A_schema_registry_is_checked_where_it_is_written_and_names_its_credentials_by_variable()
    {
        string Avro(string extra, string settings = "") => Replace("    timestamp_field: ts\n", $"    timestamp_field: ts\n    format: avro\n{extra}    schema: |\n      {AvroOrders}\n")
            .Replace("project: shop\n", "project: shop\n" + settings, StringComparison.Ordinal);
        const string Framed = "    framing: confluent\n";

        // The source's own registry; else the settings'; never for a source read past its header without framing.
        var own = Load(Avro(Framed + "    schema_registry: { url: 'https://sr.example:8081/, https://sr2.example:8081', basic_auth_env: SR_AUTH }\n"));
        Assert.True(own.Success, string.Join("\n", own.Diagnostics));
        Assert.Equal(new[] { "https://sr.example:8081", "https://sr2.example:8081" }, own.Repository!.Sources[0].Payload!.Registry!.Urls);
        Assert.Equal("SR_AUTH", own.Repository.Sources[0].Payload!.Registry!.BasicAuthEnv);
        Assert.IsType<Core.Events.Payloads.RegistryDecoder>(CompiledRepository.Compile(own.Repository).Sources[0].Schema.Decoder);
        var inherited = Load(Avro(Framed, "settings:\n  schema_registry: { url: 'http://registry:8081' }\n"));
        Assert.Equal("http://registry:8081", Assert.Single(inherited.Repository!.Sources[0].Payload!.Registry!.Urls));
        Assert.NotEqual(inherited.Repository.ContentHash(), Load(Avro(Framed)).Repository!.ContentHash());
        Assert.Null(Load(Avro("", "settings:\n  schema_registry: { url: 'http://registry:8081' }\n")).Repository!.Sources[0].Payload!.Registry);

        // Each mistake at its place, with what to write.
        var secret = Single(Avro(Framed + "    schema_registry: { url: 'http://r:8081', basic_auth_env: 'alice:s3cret' }\n"), "FS0118");
        Assert.Contains("credentials themselves", secret.Message, StringComparison.Ordinal);
        Assert.Equal(Avro(Framed + "    schema_registry: { url: 'http://r:8081', basic_auth_env: 'alice:s3cret' }\n").Split('\n').ToList().FindIndex(l => l.Contains("alice", StringComparison.Ordinal)) + 1, secret.Line);
        Assert.Contains("holds credentials", Single(Avro(Framed + "    schema_registry: { url: 'http://alice:pw@r:8081' }\n"), "FS0118").Message, StringComparison.Ordinal);
        Single(Avro(Framed + "    schema_registry: { url: 'ftp://r' }\n"), "FS0118");
        Single(Avro(Framed + "    schema_registry: { url: 'registry:8081' }\n"), "FS0118");
        Single(Avro(Framed + "    schema_registry: { url: ' , ' }\n"), "FS0118");
        Single(Avro(Framed + "    schema_registry: { url: 'http://r:8081', basic_auth_env: '1BAD' }\n"), "FS0118");
        Single(Avro("    schema_registry: { url: 'http://r:8081' }\n"), "FS0118");
        Single(Avro(Framed + "    schema_registry: { basic_auth_env: SR }\n"), "FS0004");
        Single(Avro(Framed + "    schema_registry: { url: 'http://r:8081', password: x }\n"), "FS0003");
        Single(Avro(Framed, "settings:\n  schema_registry: { url: 'http://u:p@r:8081' }\n"), "FS0118");
        Single(Replace("    timestamp_field: ts\n", "    timestamp_field: ts\n    schema_registry: { url: 'http://r:8081' }\n"), "FS0115");
    }

    [Fact]
    public void An_avro_or_protobuf_prediction_topic_is_checked_as_a_source_is()
    {
        string Predictions(string extra) => Replace("      topic: churn_predictions\n", "      topic: churn_predictions\n" + extra);
        const string Proto = "      schema: |\n        syntax = \"proto3\";\n        message P { double score = 1; int64 event_time = 2; }\n";
        var loaded = Load(Predictions("      format: protobuf\n      framing: confluent\n" + Proto));
        Assert.True(loaded.Success, string.Join("\n", loaded.Diagnostics));
        var prediction = loaded.Repository!.Models[0].Prediction;
        Assert.Equal(("protobuf", Core.Events.Payloads.PayloadFraming.Confluent), (prediction.Format, prediction.Payload!.Framing));
        Assert.NotEqual(loaded.Repository.ContentHash(), Load(Predictions("      format: protobuf\n" + Proto)).Repository!.ContentHash());

        Single(Predictions("      format: thrift\n"), "FS0110");
        Single(Predictions("      format: avro\n"), "FS0116");
        Single(Predictions("      schema: |\n        x\n"), "FS0115");
        Assert.Contains("has no field 'score'", Single(Predictions("      format: protobuf\n" + Proto.Replace("double score = 1; ", "", StringComparison.Ordinal)), "FS0117").Message, StringComparison.Ordinal);
        Single(Predictions("      format: protobuf\n      schema_registry: { url: 'http://r:8081' }\n" + Proto), "FS0118");
    }

    [Fact]
    public void Names_must_be_identifiers() =>
        Assert.Contains("'amount_sum'", Single(Replace("      - name: amount_sum_1h", "      - name: Amount Sum"), "FS0011").Hint, StringComparison.Ordinal);
}
