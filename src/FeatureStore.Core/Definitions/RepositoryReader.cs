using FeatureStore.Core.Events;
using FeatureStore.Core.Events.Payloads;
using FeatureStore.Core.Windows;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Definitions;

/// <summary>Walks the YAML tree section by section, checking structure and references as it goes.</summary>
internal sealed partial class RepositoryReader(DiagnosticBag bag)
{
    private static readonly string[] TopKeys = ["project", "settings", "entities", "sources", "feature_views", "request_views", "models", "alerts"];

    // Names declared so far, valid or not: references to an item that has errors of its own are not
    // reported again (one mistake, one diagnostic).
    private readonly HashSet<string> _entityNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _sourceNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _viewFeatures = new(StringComparer.Ordinal);

    // The request views read, which a model version may list beside stored features.
    private List<RequestViewDefinition> _requestViews = [];
    private readonly HashSet<string> _webhookNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _invalidFields = new(StringComparer.Ordinal);

    // Longest window written in the view being read, valid or not, for the ttl check.
    private long _longestWindow;

    public FeatureRepository? Read(YamlNode root)
    {
        var top = YamlMap.Read(root, bag, "the repository", TopKeys);
        if (top is null)
        {
            return null;
        }

        var project = top.Name("project", required: true, out _) ?? "invalid";
        var settings = ReadSettings(top);
        var entities = ReadEntities(top);
        var sources = ReadSources(top);
        var views = ReadViews(top, entities, sources);
        var requestViews = ReadRequestViews(top, views, sources);
        _requestViews = requestViews;
        var webhooks = ReadAlerts(top);
        CheckQualityAlerts(webhooks);
        var models = ReadModels(top, views, webhooks);
        return new FeatureRepository(project, settings, entities, sources, views, models, webhooks) { RequestViews = requestViews };
    }

    private RepositorySettings ReadSettings(YamlMap top)
    {
        var map = YamlMap.Read(top.Value("settings", required: false), bag, "settings", "allowed_lateness", "max_future_skew", "schema_registry");
        if (map is null)
        {
            return RepositorySettings.Default;
        }

        return new RepositorySettings(
            map.Duration("allowed_lateness", false, out _) ?? RepositorySettings.Default.AllowedLatenessMs,
            map.Duration("max_future_skew", false, out _) ?? RepositorySettings.Default.MaxFutureSkewMs)
        {
            SchemaRegistry = _settingsRegistry = ReadSchemaRegistry(map),
        };
    }

    private SchemaRegistryDefinition? _settingsRegistry;

    // schema_registry: { url, basic_auth_env }, as Confluent's clients take schema.registry.url and basic.auth.user.info;
    // the credentials only by the name of an environment variable, never written here.
    private SchemaRegistryDefinition? ReadSchemaRegistry(YamlMap owner)
    {
        var map = YamlMap.Read(owner.Value("schema_registry", required: false), bag, "schema_registry", "url", "basic_auth_env");
        if (map is null)
        {
            return null;
        }

        var ok = true;
        var urlText = map.String("url", true, out var urlNode);
        var urls = new List<string>();
        foreach (var url in (urlText ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
            {
                bag.Error(urlNode!, "FS0118", $"'{url}' is not an http or https URL", "write url: http://schema-registry:8081 (several of one cluster separated by commas)");
                ok = false;
            }
            else if (uri.UserInfo.Length > 0)
            {
                bag.Error(urlNode!, "FS0118", "the registry's URL holds credentials", "write the URL without them, and basic_auth_env: NAME of an environment variable holding USER:PASSWORD");
                ok = false;
            }
            else
            {
                urls.Add(url.TrimEnd('/'));
            }
        }

        if (urlText is not null && urls.Count == 0 && ok)
        {
            bag.Error(urlNode!, "FS0118", "the registry's url is blank", "write url: http://schema-registry:8081");
            ok = false;
        }

        var auth = map.String("basic_auth_env", false, out var authNode);
        if (auth is not null && !IsEnvironmentName(auth))
        {
            bag.Error(authNode!, "FS0118", auth.Contains(':', StringComparison.Ordinal)
                ? "basic_auth_env names an environment variable; this looks like the credentials themselves"
                : $"'{auth}' is not an environment variable's name",
                "write basic_auth_env: SCHEMA_REGISTRY_AUTH and set that variable to USER:PASSWORD (or API_KEY:API_SECRET) where the jobs run");
            ok = false;
        }

        return ok && urlText is not null ? new SchemaRegistryDefinition(urls, auth) : null;
    }

    private static bool IsEnvironmentName(string name) =>
        name.Length is > 0 and <= 128 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private List<EntityDefinition> ReadEntities(YamlMap top)
    {
        var result = new List<EntityDefinition>();
        var names = new UniqueNames(bag, "entity");
        foreach (var item in top.List("entities", required: true))
        {
            var map = YamlMap.Read(item, bag, "an entity", "name", "join_keys", "description");
            if (map is null)
            {
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            if (name is not null)
            {
                _entityNames.Add(name);
            }

            var keys = new List<string>();
            foreach (var keyNode in map.List("join_keys", required: true, scalarOk: true))
            {
                if (keyNode is YamlScalarNode { Value: { Length: > 0 } key } && YamlMap.IsName(key))
                {
                    keys.Add(key);
                }
                else
                {
                    bag.Error(keyNode, "FS0011", "a join key must be a field name", "write join_keys: [user_id]");
                }
            }

            if (map.Has("join_keys") && keys.Count == 0 && map.List("join_keys", false, true).Count == 0)
            {
                bag.Error(map.Value("join_keys", false)!, "FS0004", $"entity '{name}' has no join keys", "write join_keys: [user_id]");
            }

            if (name is not null && names.Add(name, nameNode!))
            {
                result.Add(new EntityDefinition(name, keys, map.String("description", false)));
            }
        }

        return result;
    }

    private List<SourceDefinition> ReadSources(YamlMap top)
    {
        var result = new List<SourceDefinition>();
        var names = new UniqueNames(bag, "source");
        foreach (var item in top.List("sources", required: true))
        {
            var map = YamlMap.Read(item, bag, "a source", "name", "kafka", "format", "schema", "message", "framing", "schema_registry", "timestamp_field", "timestamp_format", "fields", "history", "quality", "alert", "description");
            if (map is null)
            {
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            if (name is not null)
            {
                _sourceNames.Add(name);
            }

            var kafka = YamlMap.Read(map.Value("kafka", required: true), bag, "kafka", "topic", "dead_letter_topic");
            var topic = kafka?.String("topic", required: true);
            var dlq = kafka?.String("dead_letter_topic", required: false) ?? (topic is null ? null : topic + ".dlq");
            var format = map.String("format", false, out var formatNode) ?? "json";
            if (format is not ("json" or "avro" or "protobuf"))
            {
                bag.Error(formatNode!, "FS0110", $"payload format '{format}' is not supported", "write format: json, avro or protobuf");
            }

            var timestampField = map.String("timestamp_field", true, out var tsNode);
            var timestampFormat = TimestampFormat.Rfc3339;
            var tsFormatText = map.String("timestamp_format", false, out var tsFormatNode);
            switch (tsFormatText)
            {
                case null or "rfc3339":
                    break;
                case "epoch_ms":
                    timestampFormat = TimestampFormat.EpochMillis;
                    break;
                default:
                    bag.Error(tsFormatNode!, "FS0112", $"unknown timestamp_format '{tsFormatText}'", "write rfc3339 or epoch_ms");
                    break;
            }

            var fields = ReadFields(map, "fields");
            if (timestampField is not null && fields.FirstOrDefault(f => f.Name == timestampField) is { Kind: not FieldKind.Timestamp } wrong)
            {
                bag.Error(tsNode!, "FS0111", $"timestamp_field '{timestampField}' is declared as {Lower(wrong.Kind)}", $"declare {timestampField}: timestamp");
            }

            var history = ReadHistory(map);
            var quality = ReadSourceQuality(map);
            var alert = QualityAlert(map);
            var payload = ReadPayloadSchema(map, format, timestampField, timestampFormat, fields);
            if (name is not null && topic is not null && timestampField is not null && names.Add(name, nameNode!))
            {
                result.Add(new SourceDefinition(name, topic, dlq!, format, timestampField, timestampFormat, fields, history, quality, alert, payload));
            }
        }

        return result;
    }

    // An Avro or Protobuf source's schema, checked by compiling it for the declared fields: a schema that does not parse,
    // a declared field it lacks, or a JSON source with a schema are errors at the schema's place.
    private SourcePayloadSchema? ReadPayloadSchema(YamlMap source, string format, string? timestampField, TimestampFormat timestampFormat, IReadOnlyList<FieldDefinition> fields)
    {
        var text = source.String("schema", false, out var schemaNode);
        var message = source.String("message", false, out var messageNode);
        var framingText = source.String("framing", false, out var framingNode);
        var framing = framingText switch
        {
            null or "none" => PayloadFraming.None,
            "confluent" => PayloadFraming.Confluent,
            _ => (PayloadFraming?)null,
        };
        if (framing is null)
        {
            bag.Error(framingNode!, "FS0114", $"unknown framing '{framingText}'", "write framing: confluent (Schema Registry's magic byte and schema id before each payload) or none");
        }

        var registryNode = source.Value("schema_registry", required: false);
        var registry = ReadSchemaRegistry(source);
        if (format is not ("avro" or "protobuf"))
        {
            foreach (var (key, node) in new[] { ("schema", schemaNode), ("message", messageNode), ("framing", framingNode), ("schema_registry", registryNode) })
            {
                if (node is not null)
                {
                    bag.Error(node, "FS0115", $"'{key}' is for avro and protobuf sources; this one is {format}", "remove it, or write format: avro or format: protobuf");
                }
            }

            return null;
        }

        if (text is null)
        {
            bag.Error(source.Node, "FS0116", $"a {format} source needs its schema", format == "avro"
                ? "write schema: | with the Avro record schema (JSON) of its events"
                : "write schema: | with the .proto text, and message: NAME when the events are not its first message");
            return null;
        }

        if (message is not null && format == "avro")
        {
            bag.Error(messageNode!, "FS0115", "'message' is for protobuf sources", "remove it: an Avro schema is one record");
        }

        if (timestampField is null || fields.Count == 0)
        {
            return null;
        }

        var events = new EventSchema(timestampField, timestampFormat, [], [.. fields.Select(f => new FieldSpec(f.Name, f.Kind))]);
        IReadOnlyList<string> names;
        try
        {
            if (format == "avro")
            {
                _ = AvroDecoder.Compile(text, events);
                names = [.. ((Avro.RecordSchema)AvroDecoder.Parse(text)).Fields.Select(f => f.Name)];
            }
            else
            {
                _ = ProtobufDecoder.Compile(text, message, events);
                names = ProtobufDecoder.Describe(text, message).Fields;
            }
        }
        catch (PayloadSchemaException ex)
        {
            // A block scalar's text starts on the line after `schema: |`.
            var mark = ex.Line > 0 ? new YamlDotNet.Core.Mark(0, schemaNode!.Start.Line + ex.Line, Math.Max(1, ex.Column)) : schemaNode!.Start;
            bag.Error(mark, "FS0117", ex.Message, format == "avro" ? "write an Avro record schema" : "write a valid .proto (syntax = \"proto3\";)");
            return null;
        }

        foreach (var field in fields.Where(f => !names.Contains(f.Name)).Select(f => f.Name).Append(timestampField).Distinct())
        {
            if (!names.Contains(field))
            {
                bag.Error(schemaNode!, "FS0117", $"the {format} schema has no field '{field}' (it has {string.Join(", ", names)})", "declare only fields the schema has: they are matched by name");
            }
        }

        if (registryNode is not null && framing != PayloadFraming.Confluent)
        {
            bag.Error(registryNode, "FS0118", "a schema registry is asked by the schema id in Confluent's framing; this source has none",
                "write framing: confluent, or remove schema_registry");
        }

        return new SourcePayloadSchema(text, message, framing ?? PayloadFraming.None,
            framing == PayloadFraming.Confluent ? registry ?? _settingsRegistry : null);
    }

    private SourceHistoryDefinition? ReadHistory(YamlMap source)
    {
        var map = YamlMap.Read(source.Value("history", required: false), bag, "history", "path", "format", "cutover");
        if (map is null)
        {
            return null;
        }

        var path = map.String("path", true, out var pathNode);
        if (path is not null && string.IsNullOrWhiteSpace(path))
        {
            bag.Error(pathNode!, "FS0113", "the history's path is blank", "write path: history/events.jsonl (relative to this file), a folder or a pattern such as history/*.csv");
            path = null;
        }

        var format = map.String("format", false, out var formatNode);
        if (format is not null && !SourceHistoryDefinition.Formats.Contains(format))
        {
            var closest = YamlMap.Closest(format, SourceHistoryDefinition.Formats);
            bag.Error(formatNode!, "FS0113", $"unknown history format '{format}'",
                closest is null ? $"write {string.Join(", ", SourceHistoryDefinition.Formats)}, or leave format out for each file's extension" : $"did you mean '{closest}'?");
            format = null;
        }

        long? cutover = null;
        if (map.String("cutover", false, out var cutoverNode) is { } text)
        {
            if (TryParseInstant(text, out var ms))
            {
                cutover = ms;
            }
            else
            {
                bag.Error(cutoverNode!, "FS0113", $"'{text}' is not an instant for the history's cutover", "write an RFC 3339 time such as 2026-12-01T00:00:00Z, '2026-12-01 00:00:00' (UTC) or epoch milliseconds");
            }
        }

        return path is null ? null : new SourceHistoryDefinition(path, format, cutover);
    }

    // As `import --cutover` reads it: epoch milliseconds, RFC 3339, or 'YYYY-MM-DD HH:MM:SS' taken as UTC.
    private static bool TryParseInstant(string text, out long epochMs)
    {
        var trimmed = text.Trim();
        if (long.TryParse(trimmed, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out epochMs))
        {
            return true;
        }

        var bytes = System.Text.Encoding.UTF8.GetBytes(trimmed);
        return Rfc3339.TryParse(bytes, out epochMs) || (bytes.Length == 19 && Rfc3339.TryParse([.. bytes, (byte)'Z'], out epochMs));
    }

    private List<FieldDefinition> ReadFields(YamlMap map, string key)
    {
        var fields = new List<FieldDefinition>();
        var names = new UniqueNames(bag, "field");
        foreach (var (nameNode, typeNode) in map.Pairs(key, required: true))
        {
            if (!YamlMap.IsName(nameNode.Value!))
            {
                bag.Error(nameNode, "FS0011", $"'{nameNode.Value}' is not a valid field name", "use lower-case letters, digits and underscores");
                continue;
            }

            if (!FeatureRepositoryLoader.FieldKinds.TryGetValue(typeNode.Value!, out var kind))
            {
                _invalidFields.Add(nameNode.Value!);
                var closest = YamlMap.Closest(typeNode.Value!, FeatureRepositoryLoader.FieldKinds.Keys);
                bag.Error(typeNode, "FS0109", $"unknown field type '{typeNode.Value}'",
                    closest is null ? "use string, int, double, bool or timestamp" : $"did you mean '{closest}'?");
                continue;
            }

            if (names.Add(nameNode.Value!, nameNode))
            {
                fields.Add(new FieldDefinition(nameNode.Value!, kind));
            }
        }

        return fields;
    }

    private List<FeatureViewDefinition> ReadViews(YamlMap top, List<EntityDefinition> entities, List<SourceDefinition> sources)
    {
        var result = new List<FeatureViewDefinition>();
        var names = new UniqueNames(bag, "feature view");
        foreach (var item in top.List("feature_views", required: true))
        {
            var map = YamlMap.Read(item, bag, "a feature view", "name", "entity", "source", "ttl", "features", "freshness", "quality", "alert", "description");
            if (map is null)
            {
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            var entityName = map.String("entity", true, out var entityNode);
            var sourceName = map.String("source", true, out var sourceNode);
            var ttl = map.Duration("ttl", true, out var ttlNode);
            var entity = entities.FirstOrDefault(e => e.Name == entityName);
            var source = sources.FirstOrDefault(s => s.Name == sourceName);
            if (name is not null)
            {
                _viewFeatures[name] = [];
            }

            if (entityName is not null && entity is null && !_entityNames.Contains(entityName))
            {
                bag.Error(entityNode!, "FS0101", $"feature view '{name}' refers to unknown entity '{entityName}'", Known("entities", entities.Select(e => e.Name), entityName));
            }

            if (sourceName is not null && source is null && !_sourceNames.Contains(sourceName))
            {
                bag.Error(sourceNode!, "FS0102", $"feature view '{name}' refers to unknown source '{sourceName}'", Known("sources", sources.Select(s => s.Name), sourceName));
            }

            if (entity is not null && source is not null)
            {
                foreach (var key in entity.JoinKeys.Where(k => source.FindField(k) is null))
                {
                    bag.Error(sourceNode!, "FS0108", $"source '{source.Name}' has no field '{key}', the join key of entity '{entity.Name}'", $"declare {key} in the fields of source '{source.Name}'");
                }
            }

            _longestWindow = 0;
            var features = ReadFeatures(map, name ?? "?", source);
            var longest = _longestWindow;
            if (ttl is not null && ttl < longest)
            {
                bag.Error(ttlNode!, "FS0107", $"ttl {Duration.Format(ttl.Value)} of feature view '{name}' is shorter than its longest window {Duration.Format(longest)}",
                    $"write ttl: {Duration.Format(longest)} or more");
            }

            var freshness = map.Duration("freshness", false, out _);
            var quality = ReadViewQuality(map, name ?? "?", features, source);
            var alert = QualityAlert(map);
            if (name is not null && entity is not null && source is not null && ttl is not null && names.Add(name, nameNode!))
            {
                result.Add(new FeatureViewDefinition(name, entity.Name, source.Name, ttl.Value, features, freshness, quality, alert));
            }
        }

        return result;
    }

    private List<FeatureDefinition> ReadFeatures(YamlMap view, string viewName, SourceDefinition? source)
    {
        var result = new List<FeatureDefinition>();
        var names = new UniqueNames(bag, $"feature of '{viewName}'");
        var items = view.List("features", required: true);
        if (view.Has("features") && items.Count == 0)
        {
            bag.Error(view.Node, "FS0004", $"feature view '{viewName}' declares no features", "add features: - name: … aggregation: …");
        }

        foreach (var item in items)
        {
            var map = YamlMap.Read(item, bag, "a feature", "name", "aggregation", "field", "window", "hop", "description", "p", "n", "k");
            if (map is null)
            {
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            if (name is not null && _viewFeatures.TryGetValue(viewName, out var declared))
            {
                declared.Add(name);
            }

            var aggregationText = map.String("aggregation", true, out var aggregationNode);
            AggregationKind? aggregation = null;
            if (aggregationText is not null)
            {
                if (FeatureRepositoryLoader.Aggregations.TryGetValue(aggregationText, out var kind))
                {
                    aggregation = kind;
                }
                else
                {
                    var closest = YamlMap.Closest(aggregationText, FeatureRepositoryLoader.Aggregations.Keys);
                    bag.Error(aggregationNode!, "FS0103", $"unknown aggregation '{aggregationText}'",
                        closest is null ? $"use one of {string.Join(", ", FeatureRepositoryLoader.Aggregations.Keys)}" : $"did you mean '{closest}'?");
                }
            }

            var field = map.String("field", false, out var fieldNode);
            if (aggregation is AggregationKind.Count && field is not null)
            {
                bag.Error(fieldNode!, "FS0104", "count takes no field", "remove field, or use another aggregation");
            }
            else if (aggregation is not null and not AggregationKind.Count && field is null)
            {
                bag.Error(map.Node, "FS0104", $"aggregation {aggregationText} needs the field it aggregates", "add field: <a field of the source>");
            }
            else if (field is not null && source is not null)
            {
                var declaredField = source.FindField(field);
                if (declaredField is null && _invalidFields.Contains(field))
                {
                    // its type is already reported
                }
                else if (declaredField is null)
                {
                    bag.Error(fieldNode!, "FS0104", $"source '{source.Name}' has no field '{field}'", Known("fields", source.Fields.Select(f => f.Name), field));
                }
                else if (aggregation is AggregationKind.Sum or AggregationKind.Mean or AggregationKind.Min or AggregationKind.Max or AggregationKind.StdDev or AggregationKind.Percentile
                    && declaredField.Kind is not (FieldKind.Int or FieldKind.Double))
                {
                    bag.Error(fieldNode!, "FS0105", $"{aggregationText} needs a numeric field; '{field}' is {Lower(declaredField.Kind)}", "use an int or double field, or last / approx_distinct / count");
                }
            }

            var parameter = ReadParameter(map, aggregation, aggregationText, aggregationNode);
            var window = map.Duration("window", false, out _);
            _longestWindow = Math.Max(_longestWindow, window ?? 0);
            var hop = map.Duration("hop", false, out var hopNode);
            WindowSpec? spec = null;
            if (window is not null && hop is not null && (hop > window || window % hop != 0))
            {
                bag.Error(hopNode!, "FS0106", $"hop {Duration.Format(hop.Value)} does not divide window {Duration.Format(window.Value)}",
                    $"use a hop that divides the window, e.g. {Duration.Format(WindowSpec.DefaultHopMs(window.Value))}");
            }
            else if (window is not null)
            {
                spec = new WindowSpec(window.Value, hop ?? WindowSpec.DefaultHopMs(window.Value));
            }
            else if (!map.Has("window") && (hop is not null || !map.Has("hop")))
            {
                spec = WindowSpec.Lifetime(hop ?? 3_600_000); // no window: every event up to the lookup time, tiled by the hour
            }

            if (name is not null && aggregation is not null && spec is not null && parameter is not null && names.Add(name, nameNode!))
            {
                result.Add(new FeatureDefinition(name, aggregation.Value, field, spec.Value, parameter.Value));
            }
        }

        return result;
    }

    // p of percentile (a share in [0, 1]), n of last_n and last_n_distinct, k of top_k (1 to 1000); the other
    // aggregations take none (0). Null when it is missing or wrong (reported).
    private double? ReadParameter(YamlMap map, AggregationKind? aggregation, string? aggregationText, YamlNode? aggregationNode)
    {
        var wanted = aggregation switch
        {
            AggregationKind.Percentile => "p",
            AggregationKind.LastN or AggregationKind.LastNDistinct => "n",
            AggregationKind.TopK => "k",
            _ => null,
        };
        foreach (var key in (string[])["p", "n", "k"])
        {
            if (key != wanted && map.Has(key) && aggregation is not null)
            {
                bag.Error(map.Value(key, false)!, "FS0170", $"{aggregationText} takes no {key}",
                    wanted is null ? $"remove {key}; only percentile (p), last_n and last_n_distinct (n) and top_k (k) take one" : $"write {wanted}: … instead");
            }
        }

        if (wanted is null)
        {
            return aggregation is null ? null : 0;
        }

        if (!map.Has(wanted))
        {
            bag.Error(aggregationNode!, "FS0170", $"{aggregationText} needs {wanted}",
                wanted == "p" ? "add p: 0.95 (the quantile, in [0, 1])" : $"add {wanted}: 10 (at most {AggregationKinds.MaxItems})");
            return null;
        }

        var node = map.Value(wanted, false)!;
        var text = (node as YamlScalarNode)?.Value;
        if (wanted == "p")
        {
            if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var p) || p is not (>= 0 and <= 1))
            {
                bag.Error(node, "FS0171", $"p '{text}' of percentile is not a share in [0, 1]", "write p: 0.95 for the 95th percentile (p: 0.5 is the median)");
                return null;
            }

            return p;
        }

        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size) || size is < 1 or > AggregationKinds.MaxItems)
        {
            bag.Error(node, "FS0171", $"{wanted} '{text}' of {aggregationText} is not a whole number from 1 to {AggregationKinds.MaxItems}",
                $"write {wanted}: 10; a tile keeps at most {(wanted == "n" ? "n values" : "8·k counted values")}, so {wanted} is bounded");
            return null;
        }

        return size;
    }

    private List<WebhookDefinition> ReadAlerts(YamlMap top)
    {
        var result = new List<WebhookDefinition>();
        var alerts = YamlMap.Read(top.Value("alerts", required: false), bag, "alerts", "webhooks");
        if (alerts is null)
        {
            return result;
        }

        var names = new UniqueNames(bag, "webhook");
        foreach (var item in alerts.List("webhooks", required: true))
        {
            var map = YamlMap.Read(item, bag, "a webhook", "name", "url", "secret_env", "cooldown");
            if (map is null)
            {
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            if (name is not null)
            {
                _webhookNames.Add(name);
            }

            var url = map.String("url", true, out var urlNode);
            if (url is not null && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            {
                bag.Error(urlNode!, "FS0124", $"'{url}' is not an http or https URL", "write url: https://alerts.example.com/hook");
                url = null;
            }

            var secretEnv = map.String("secret_env", true, out var secretNode);
            if (secretEnv is not null && !secretEnv.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                bag.Error(secretNode!, "FS0124", $"'{secretEnv}' is not an environment variable name", "write secret_env: FEATURESTORE_WEBHOOK_SECRET");
                secretEnv = null;
            }

            var cooldown = map.Duration("cooldown", false, out _) ?? 10 * 60_000;
            if (name is not null && url is not null && secretEnv is not null && names.Add(name, nameNode!))
            {
                result.Add(new WebhookDefinition(name, url, secretEnv, cooldown));
            }
        }

        return result;
    }

    private List<ModelDefinition> ReadModels(YamlMap top, List<FeatureViewDefinition> views, List<WebhookDefinition> webhooks)
    {
        var result = new List<ModelDefinition>();
        var names = new UniqueNames(bag, "model");
        foreach (var item in top.List("models", required: false))
        {
            var map = YamlMap.Read(item, bag, "a model", "name", "prediction", "versions", "monitors", "labels", "performance", "description", "gates", "on_degradation", "degradation_windows");
            if (map is null)
            {
                continue;
            }

            var name = map.Name("name", true, out var nameNode);
            var prediction = ReadPrediction(map);
            var versions = new List<ModelVersionDefinition>();
            var versionNames = new UniqueNames(bag, $"version of model '{name}'");
            var featureRefs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var versionItem in map.List("versions", required: true))
            {
                var version = YamlMap.Read(versionItem, bag, "a model version", "version", "features", "description");
                var label = version?.String("version", true);
                if (version is null || label is null)
                {
                    continue;
                }

                var features = new List<string>();
                foreach (var refNode in version.List("features", required: true))
                {
                    var text = (refNode as YamlScalarNode)?.Value;
                    if (ResolveFeatureRef(text, refNode, views) is { } resolved)
                    {
                        features.AddRange(resolved);
                    }
                }

                featureRefs.UnionWith(features);
                if (versionNames.Add(label, version.Value("version", false)!))
                {
                    versions.Add(new ModelVersionDefinition(label, features, version.String("description", false)));
                }
            }

            var monitors = ReadMonitors(map, prediction, featureRefs, webhooks, views);
            var labels = ReadLabels(map, prediction);
            var performance = ReadPerformance(map, prediction, webhooks);
            var lifecycle = ReadLifecycle(map, monitors);
            if (name is not null && prediction is not null && names.Add(name, nameNode!))
            {
                result.Add(new ModelDefinition(name, prediction, versions, monitors, labels, performance, lifecycle));
            }
        }

        return result;
    }

    private PredictionDefinition? ReadPrediction(YamlMap model)
    {
        var map = YamlMap.Read(model.Value("prediction", required: true), bag, "prediction", "topic", "dead_letter_topic", "id_field", "timestamp_field", "fields",
            "format", "schema", "message", "framing", "schema_registry");
        if (map is null)
        {
            return null;
        }

        var topic = map.String("topic", true);
        var fields = ReadFields(map, "fields");
        var timestampField = map.String("timestamp_field", false) ?? "event_time";
        var idField = map.String("id_field", false, out var idNode);
        if (idField is not null && fields.All(f => f.Name != idField) && !_invalidFields.Contains(idField))
        {
            bag.Error(idNode!, "FS0132", $"prediction id_field '{idField}' is not a prediction field", Known("fields", fields.Select(f => f.Name), idField) + $"; or declare {idField}: string under fields");
        }

        // Avro and Protobuf predictions as Avro and Protobuf sources: the same keys, checks and decoders.
        var format = map.String("format", false, out var formatNode) ?? "json";
        if (format is not ("json" or "avro" or "protobuf"))
        {
            bag.Error(formatNode!, "FS0110", $"payload format '{format}' is not supported", "write format: json, avro or protobuf");
        }

        var payload = ReadPayloadSchema(map, format, timestampField, TimestampFormat.EpochMillis, fields);

        // An id_field in error is kept: the repository is invalid anyway, and labels that need it are not reported again.
        return topic is null ? null : new PredictionDefinition(topic, map.String("dead_letter_topic", false) ?? topic + ".dlq", timestampField, fields, idField, format, payload);
    }

    // The aggregation's name when `view:feature` names a list or counts feature (last_n, last_n_distinct, top_k).
    private static string? CollectionFeature(string column, List<FeatureViewDefinition> views)
    {
        var colon = column.IndexOf(':', StringComparison.Ordinal);
        var feature = colon < 0 ? null : views.FirstOrDefault(v => v.Name == column[..colon])?.FindFeature(column[(colon + 1)..]);
        return feature is not null && AggregationKinds.IsCollection(feature.Aggregation)
            ? FeatureRepositoryLoader.Aggregations.First(a => a.Value == feature.Aggregation).Key : null;
    }

    private IEnumerable<string>? ResolveFeatureRef(string? text, YamlNode node, List<FeatureViewDefinition> views)
    {
        var parts = text?.Split(':') ?? [];
        if (parts.Length is < 1 or > 2 || parts.Any(p => p.Length == 0))
        {
            bag.Error(node, "FS0120", $"'{text}' is not a feature reference", "write view:feature, or a view name for all its features");
            return null;
        }

        var view = views.FirstOrDefault(v => v.Name == parts[0]);
        if (_requestViews.FirstOrDefault(r => r.Name == parts[0]) is { } request)
        {
            // A request-time feature: the lookup by model computes it from the context sent, the export from the entity table.
            if (parts.Length == 1)
            {
                return request.Features.Select(f => $"{request.Name}:{f.Name}");
            }

            if (request.IndexOf(parts[1]) < 0)
            {
                bag.Error(node, "FS0120", $"request view '{request.Name}' has no feature '{parts[1]}'", Known("features", request.Features.Select(f => f.Name), parts[1]));
                return null;
            }

            return [text!];
        }

        if (!_viewFeatures.TryGetValue(parts[0], out var declared))
        {
            bag.Error(node, "FS0120", $"unknown feature view '{parts[0]}'", Known("feature views and request views", _viewFeatures.Keys.Concat(_requestViews.Select(r => r.Name)), parts[0]));
            return null;
        }

        if (view is null || (parts.Length == 2 && declared.Contains(parts[1]) && view.FindFeature(parts[1]) is null))
        {
            // The view or feature has errors of its own, already reported: keep the reference so nothing
            // that names it is reported again (the repository is invalid anyway).
            return parts.Length == 2 ? [text!] : declared.Select(f => $"{parts[0]}:{f}");
        }

        if (parts.Length == 1)
        {
            return view.Features.Select(f => $"{view.Name}:{f.Name}");
        }

        if (view.FindFeature(parts[1]) is null)
        {
            bag.Error(node, "FS0120", $"feature view '{view.Name}' has no feature '{parts[1]}'", Known("features", declared, parts[1]));
            return null;
        }

        return [text!];
    }

    private List<MonitorDefinition> ReadMonitors(YamlMap model, PredictionDefinition? prediction, HashSet<string> featureRefs, List<WebhookDefinition> webhooks, List<FeatureViewDefinition> views)
    {
        var result = new List<MonitorDefinition>();
        foreach (var item in model.List("monitors", required: false))
        {
            var map = YamlMap.Read(item, bag, "a monitor", "column", "methods", "window", "bins", "min_samples", "alert", "segment_by", "segments");
            if (map is null)
            {
                continue;
            }

            var column = map.String("column", true, out var columnNode);
            if (column is not null && prediction is not null && prediction.Fields.All(f => f.Name != column) && !featureRefs.Contains(column))
            {
                bag.Error(columnNode!, "FS0121", $"monitor column '{column}' is neither a prediction field nor a feature of the model",
                    Known("columns", prediction.Fields.Select(f => f.Name).Concat(featureRefs), column));
            }
            else if (column is not null && CollectionFeature(column, views) is { } collection)
            {
                // Drift compares one number or category per prediction; a list or value counts has neither.
                bag.Error(columnNode!, "FS0189", $"monitor column '{column}' is {collection}, a list: drift compares one number or one category per prediction",
                    "monitor a scalar feature of the same events instead (count, mean, percentile, approx_distinct, last ...), or add one");
            }

            var methods = new List<MonitorMethod>();
            foreach (var methodNode in map.List("methods", required: true, scalarOk: true))
            {
                string? method;
                double? threshold = null;
                var learned = false;
                YamlNode at = methodNode;
                if (methodNode is YamlScalarNode scalar)
                {
                    method = scalar.Value;
                }
                else
                {
                    var spec = YamlMap.Read(methodNode, bag, "a monitor method", "method", "threshold");
                    method = spec?.String("method", true);
                    YamlNode? thresholdNode = null;
                    learned = spec?.String("threshold", false, out thresholdNode) == "learned";
                    threshold = learned ? null : spec?.Number("threshold", out _);
                    if (learned && method is "ks" or "chi2")
                    {
                        // Nothing is learned for a test: its threshold is a significance level, so it would silently stay 0.05.
                        bag.Error(thresholdNode!, "FS0128", $"threshold: learned is for the distance methods (psi, js, wasserstein, hellinger); {method} compares a p-value",
                            "write a significance level such as threshold: 0.01");
                    }
                }

                if (method is null || !FeatureRepositoryLoader.MonitorMethods.Contains(method))
                {
                    var closest = method is null ? null : YamlMap.Closest(method, FeatureRepositoryLoader.MonitorMethods);
                    bag.Error(at, "FS0122", $"unknown drift method '{method}'", closest is null ? $"use {string.Join(", ", FeatureRepositoryLoader.MonitorMethods)}" : $"did you mean '{closest}'?");
                    continue;
                }

                if (method is "ks" or "wasserstein" && prediction?.Fields.FirstOrDefault(f => f.Name == column) is { Kind: FieldKind.String or FieldKind.Bool } categorical)
                {
                    // Both compare numbers: on categories they would give no result at all, silently.
                    bag.Error(at, "FS0129", $"{method} compares numbers; monitor column '{column}' is {categorical.Kind.ToString().ToLowerInvariant()}", "use psi, js, chi2 or hellinger on a categorical column");
                    continue;
                }

                methods.Add(new MonitorMethod(method, threshold, learned));
            }

            long? size = null;
            long? count = null;
            var window = YamlMap.Read(map.Value("window", required: true), bag, "a monitor window", "size", "count");
            if (window is not null)
            {
                size = window.Duration("size", false, out _);
                count = window.Integer("count", 1, out _);
                if (window.Has("size") == window.Has("count"))
                {
                    bag.Error(window.Node, "FS0126", "a monitor window is either by time or by count", "write window: { size: 1h } or window: { count: 10000 }");
                }
            }

            var bins = (int)(map.Integer("bins", 2, out _) ?? 10);
            var minSamples = map.Integer("min_samples", 1, out var minSamplesNode);
            if (minSamples > count)
            {
                bag.Error(minSamplesNode!, "FS0127", $"min_samples {minSamples} is more than the window's count {count}: every window would be insufficient_data",
                    $"write min_samples: {count} or less, or a larger window count");
            }

            var alert = map.String("alert", false, out var alertNode);
            CheckWebhook(alert, alertNode, webhooks);

            var (segmentBy, segments) = ReadSegments(map, prediction);
            if (column is not null)
            {
                result.Add(new MonitorDefinition(column, methods, size, count, bins, alert, (int)Math.Min(minSamples ?? MonitorDefinition.DefaultMinSamples(count), int.MaxValue), segmentBy, segments));
            }
        }

        return result;
    }

    private static string Known(string what, IEnumerable<string> names, string? wrong)
    {
        var list = names.ToList();
        var closest = wrong is null ? null : YamlMap.Closest(wrong, list);
        return closest is not null ? $"did you mean '{closest}'?"
            : list.Count == 0 ? $"no {what} are declared" : $"known {what}: {string.Join(", ", list.Take(10))}";
    }

    private static string Lower(FieldKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Reports the second and later uses of a name, pointing back at the first.</summary>
    private sealed class UniqueNames(DiagnosticBag bag, string what)
    {
        private readonly Dictionary<string, YamlNode> _seen = new(StringComparer.Ordinal);

        public bool Add(string name, YamlNode node)
        {
            if (_seen.TryGetValue(name, out var first))
            {
                bag.Error(node, "FS0100", $"duplicate {what} '{name}' (first declared at line {first.Start.Line})", "give each a distinct name");
                return false;
            }

            _seen[name] = node;
            return true;
        }
    }
}
