using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Parquet.Export;
using Grpc.Core;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore get</c>: one online lookup against a running <c>serve</c>, as a table or JSON.</summary>
internal static class GetCommand
{
    private const string DefaultServer = "http://127.0.0.1:6566";

    public static Command Create()
    {
        var server = new Option<string?>("--server")
        {
            Description = "The serving host's gRPC address. Env: FEATURESTORE__SERVING__ADDRESS; else the serve job of the "
                + "`featurestore run` of this folder; else http://127.0.0.1:6566.",
        };
        var features = new Option<string[]>("--features", "--feature")
        {
            Description = "Feature references, comma-separated or repeated: view:feature, or view for all its features.",
            DefaultValueFactory = _ => [],
        };
        var model = new Option<string?>("--model") { Description = "A model (model or model@version) standing for the features it reads." };
        var entities = new Option<string[]>("--entity", "-e")
        {
            Description = "An entity row as join keys, repeatable: user_id=u1 or user_id=u1,merchant_id=m7.",
            Required = true,
        };
        var context = new Option<string[]>("--context", "-c")
        {
            Description = "The request context of request-time features, repeatable: one per --entity in order, or one for every row: "
                + "amount=12.5,merchant_id=\"123\",placed_at=2026-12-07T18:30:00Z (numbers, true/false, null, text; double quotes keep text that looks like a number).",
            DefaultValueFactory = _ => [],
        };
        var asOf = new Option<string?>("--as-of") { Description = "Evaluate at this instant instead of now: RFC 3339, 'YYYY-MM-DD HH:MM:SS' (UTC) or an epoch number (see --timestamp-unit)." };
        var timestampUnit = OfflineCommands.TimestampUnitOption();
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var apiKey = new Option<string?>("--api-key")
        {
            Description = "API key, when the server asks for one. Env: FEATURESTORE__SERVING__APIKEY.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__APIKEY"),
        };
        var command = new Command("get", "Look features up for some entities from a running `featurestore serve`.")
        {
            server, features, model, entities, context, asOf, timestampUnit, json, apiKey,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var request = new GetOnlineFeaturesRequest { Model = parse.GetValue(model) ?? "" };
            request.Features.AddRange(parse.GetValue(features)!.SelectMany(f => f.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
            foreach (var text in parse.GetValue(entities)!)
            {
                var row = new EntityRow();
                foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    if (eq <= 0)
                    {
                        await error.WriteLineAsync($"--entity: '{pair}' is not KEY=VALUE");
                        return CliApp.Usage;
                    }

                    row.JoinKeys[pair[..eq]] = pair[(eq + 1)..];
                }

                request.Entities.Add(row);
            }

            var contexts = parse.GetValue(context)!;
            if (contexts.Length > 1 && contexts.Length != request.Entities.Count)
            {
                await error.WriteLineAsync($"--context: {contexts.Length} given for {request.Entities.Count} --entity rows: give one per row, or one for all");
                return CliApp.Usage;
            }

            for (var r = 0; contexts.Length > 0 && r < request.Entities.Count; r++)
            {
                foreach (var pair in contexts[contexts.Length == 1 ? 0 : r].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    if (eq <= 0)
                    {
                        await error.WriteLineAsync($"--context: '{pair}' is not NAME=VALUE");
                        return CliApp.Usage;
                    }

                    request.Entities[r].RequestContext[pair[..eq]] = RequestContext.Parse(pair[(eq + 1)..]);
                }
            }

            if (parse.GetValue(asOf) is { } at)
            {
                // The same forms as the export's event_timestamp, read by the same code.
                if (!EntityTimestamps.TryParse(at, parse.GetValue(timestampUnit), out var ms, out var problem))
                {
                    await error.WriteLineAsync($"--as-of: {problem}");
                    return CliApp.Usage;
                }

                request.AsOf = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(ms));
            }

            var target = parse.GetValue(server) ?? Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__ADDRESS") ?? await RunningServerAsync(error) ?? DefaultServer;
            if (!Uri.TryCreate(target, UriKind.Absolute, out var address))
            {
                await error.WriteLineAsync($"--server: '{target}' is not an address such as {DefaultServer}");
                return CliApp.Usage;
            }

            using var client = new FeatureStoreClient(address, new FeatureStoreClientOptions { ApiKey = parse.GetValue(apiKey) });
            OnlineFeatureSet result;
            try
            {
                result = await client.GetOnlineFeaturesAsync(request, cancellationToken);
            }
            catch (RpcException ex)
            {
                await error.WriteLineAsync(ex.StatusCode switch
                {
                    // gRPC's own text ("Error connecting to subchannel") names neither the address nor what to start.
                    StatusCode.Unavailable when ex.Status.DebugException is not null || ex.Status.Detail.Contains("subchannel", StringComparison.OrdinalIgnoreCase) =>
                        $"cannot reach the server at {address}: is `featurestore serve` (or `run`) running? (--server or FEATURESTORE__SERVING__ADDRESS gives its gRPC address)",
                    StatusCode.Unauthenticated => $"{ex.StatusCode}: {ex.Status.Detail} (give the key with --api-key or FEATURESTORE__SERVING__APIKEY)",
                    _ => $"{ex.StatusCode}: {ex.Status.Detail}",
                });
                return ex.StatusCode is StatusCode.InvalidArgument ? CliApp.Usage : CliApp.Failure;
            }

            var building = await BuildingAsync(client, result, cancellationToken);
            await output.WriteAsync(parse.GetValue(json) ? ToJson(request, result, building) : ToTable(request, result, building));
            return CliApp.Ok;
        });
        return command;
    }

    /// <summary>The value as text: the number or string, else the status in parentheses.</summary>
    internal static string Cell(FeatureValue value) => value.Status switch
    {
        FeatureStatus.Present => Scalar(value) ?? "",
        FeatureStatus.NullValue => "(null)",
        FeatureStatus.NotFound => "(not found)",
        FeatureStatus.OutsideTtl => "(outside ttl)",
        FeatureStatus.Inexact => "(inexact: before the retained span)",
        FeatureStatus.Building => "(building: not served yet)",
        _ => "(?)",
    };

    private static string? Scalar(FeatureValue value) => value.ValueCase switch
    {
        FeatureValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString("G17", CultureInfo.InvariantCulture),
        FeatureValue.ValueOneofCase.Int64Value => value.Int64Value.ToString(CultureInfo.InvariantCulture),
        FeatureValue.ValueOneofCase.StringValue => value.StringValue,
        FeatureValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        FeatureValue.ValueOneofCase.StringListValue => System.Text.Json.JsonSerializer.Serialize(value.StringListValue.Values),
        FeatureValue.ValueOneofCase.DoubleListValue => System.Text.Json.JsonSerializer.Serialize(value.DoubleListValue.Values),
        FeatureValue.ValueOneofCase.Int64ListValue => System.Text.Json.JsonSerializer.Serialize(value.Int64ListValue.Values),
        FeatureValue.ValueOneofCase.CountsValue => System.Text.Json.JsonSerializer.Serialize(value.CountsValue.Counts.ToDictionary(c => c.Key, c => c.Value)),
        _ => null,
    };

    private static string Iso(DateTimeOffset instant) => instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string EntityText(EntityRow row) => string.Join(",", row.JoinKeys.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}"));

    /// <summary>
    /// The building state group of each view with a BUILDING value in <paramref name="result"/>, as the server
    /// describes it (with the rebuild's progress); none for a view it cannot describe (an older server).
    /// </summary>
    internal static async Task<List<(string View, StateGroupInfo Group)>> BuildingAsync(FeatureStoreClient client, OnlineFeatureSet result, CancellationToken cancellationToken)
    {
        var views = new SortedSet<string>(StringComparer.Ordinal);
        for (var r = 0; r < result.RowCount; r++)
        {
            for (var c = 0; c < result.FeatureNames.Count; c++)
            {
                if (result.Response.Rows[r].Values[c].Status == FeatureStatus.Building)
                {
                    var name = result.FeatureNames[c];
                    views.Add(name[..Math.Max(0, name.IndexOf(':', StringComparison.Ordinal))]);
                }
            }
        }

        var building = new List<(string View, StateGroupInfo Group)>();
        foreach (var view in views)
        {
            try
            {
                var info = await client.Registry.DescribeFeatureViewAsync(new DescribeRequest { Name = view }, cancellationToken: cancellationToken);
                if (info.StateGroups.FirstOrDefault(g => g.Building) is { } group)
                {
                    building.Add((view, group));
                }
            }
            catch (RpcException)
            {
                // the values already say BUILDING; the progress line is a help, left out when the server cannot give it
            }
        }

        return building;
    }

    /// <summary>One view's build, e.g. <c>user_txn_stats: building amount_min_1h, txn_count_2h (42% of 1.2M events)</c>.</summary>
    internal static string BuildingLine(string view, StateGroupInfo group)
    {
        var progress = group.RowsTotal > 0
            ? $"{Math.Min(100, group.RowsDone * 100 / group.RowsTotal)}% of {Count(group.RowsTotal)} events"
            : group.BuildState == "waiting" && group.BuildReason.Length > 0 ? "waiting: " + group.BuildReason
            : group.BuildState.Length > 0 ? group.BuildState : "not started";
        return $"{view}: building {string.Join(", ", group.Features)} ({progress})";
    }

    /// <summary>A count in short form: 950, 12.3k, 1.2M, 3.4G.</summary>
    internal static string Count(long n) => n switch
    {
        < 1_000 => n.ToString(CultureInfo.InvariantCulture),
        < 1_000_000 => (n / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        < 1_000_000_000 => (n / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        _ => (n / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "G",
    };

    internal static string ToTable(GetOnlineFeaturesRequest request, OnlineFeatureSet result, IReadOnlyList<(string View, StateGroupInfo Group)>? building = null)
    {
        var header = new List<string> { "entity" };
        header.AddRange(result.FeatureNames);
        var lines = new List<string[]> { header.ToArray() };
        for (var r = 0; r < result.RowCount; r++)
        {
            var cells = new List<string> { EntityText(request.Entities[r]) };
            cells.AddRange(result.Response.Rows[r].Values.Select(Cell));
            lines.Add([.. cells]);
        }

        var widths = Enumerable.Range(0, header.Count).Select(c => lines.Max(l => l[c].Length)).ToArray();
        var sb = new StringBuilder();
        foreach (var line in lines)
        {
            sb.AppendLine(string.Join("  ", line.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"evaluated at {Iso(result.EvaluatedAt)}, registry version {result.Response.RegistryVersion}");
        foreach (var (view, group) in building ?? [])
        {
            sb.AppendLine(BuildingLine(view, group));
        }

        return sb.ToString();
    }

    internal static string ToJson(GetOnlineFeaturesRequest request, OnlineFeatureSet result, IReadOnlyList<(string View, StateGroupInfo Group)>? building = null)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("evaluated_at", Iso(result.EvaluatedAt));
            writer.WriteNumber("registry_version", result.Response.RegistryVersion);
            writer.WriteStartArray("rows");
            for (var r = 0; r < result.RowCount; r++)
            {
                writer.WriteStartObject();
                writer.WriteStartObject("entity");
                foreach (var (key, value) in request.Entities[r].JoinKeys)
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
                writer.WriteStartObject("features");
                for (var c = 0; c < result.FeatureNames.Count; c++)
                {
                    var value = result.Response.Rows[r].Values[c];
                    writer.WriteStartObject(result.FeatureNames[c]);
                    writer.WritePropertyName("value");
                    switch (value.ValueCase)
                    {
                        case FeatureValue.ValueOneofCase.DoubleValue:
                            writer.WriteNumberValue(value.DoubleValue);
                            break;
                        case FeatureValue.ValueOneofCase.Int64Value:
                            writer.WriteNumberValue(value.Int64Value);
                            break;
                        case FeatureValue.ValueOneofCase.StringValue:
                            writer.WriteStringValue(value.StringValue);
                            break;
                        case FeatureValue.ValueOneofCase.BoolValue:
                            writer.WriteBooleanValue(value.BoolValue);
                            break;
                        case FeatureValue.ValueOneofCase.StringListValue or FeatureValue.ValueOneofCase.DoubleListValue or FeatureValue.ValueOneofCase.Int64ListValue
                            or FeatureValue.ValueOneofCase.CountsValue:
                            writer.WriteRawValue(Scalar(value)!); // a list as a JSON array, top_k counts as an object of value to count
                            break;
                        default:
                            writer.WriteNullValue();
                            break;
                    }

                    writer.WriteString("status", value.Status switch
                    {
                        FeatureStatus.Present => "PRESENT",
                        FeatureStatus.NullValue => "NULL_VALUE",
                        FeatureStatus.NotFound => "NOT_FOUND",
                        FeatureStatus.OutsideTtl => "OUTSIDE_TTL",
                        FeatureStatus.Inexact => "INEXACT",
                        FeatureStatus.Building => "BUILDING",
                        _ => "FEATURE_STATUS_UNSPECIFIED",
                    });
                    if (value.EventTimestamp is { } ts)
                    {
                        writer.WriteString("event_timestamp", Iso(ts.ToDateTimeOffset()));
                    }
                    else
                    {
                        writer.WriteNull("event_timestamp");
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            if (building is { Count: > 0 })
            {
                // The views whose BUILDING values are still being rebuilt, with the rebuild's progress.
                writer.WriteStartArray("building");
                foreach (var (view, group) in building)
                {
                    writer.WriteStartObject();
                    writer.WriteString("view", view);
                    writer.WriteStartArray("features");
                    foreach (var feature in group.Features)
                    {
                        writer.WriteStringValue(feature);
                    }

                    writer.WriteEndArray();
                    writer.WriteString("state", group.BuildState.Length > 0 ? group.BuildState : null);
                    writer.WriteNumber("rows_done", group.RowsDone);
                    writer.WriteNumber("rows_total", group.RowsTotal);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }

    /// <summary>The gRPC address of the running host's serve job, from the state file <c>run</c> keeps (said on standard error).</summary>
    internal static async Task<string?> RunningServerAsync(TextWriter error)
    {
        var state = RunState.Find(out var note);
        if (note is not null)
        {
            await error.WriteLineAsync("note: " + note);
        }

        if (state?.Grpc is not { } grpc)
        {
            return null;
        }

        // A host listening on every interface is reached on this machine's loopback.
        var text = Uri.TryCreate(grpc, UriKind.Absolute, out var address) && address.Host is "0.0.0.0" or "[::]" or "::"
            ? new UriBuilder(address) { Host = "127.0.0.1" }.Uri.ToString().TrimEnd('/')
            : grpc;
        await error.WriteLineAsync($"using the server of `featurestore run` (process {state.Pid}) at {text}");
        return text;
    }
}
