using System.CommandLine;
using System.Globalization;
using System.Net;
using FeatureStore.Serving;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Cli.Commands;

/// <summary><c>featurestore serve</c>: the serving host (gRPC, HTTP/JSON, health, metrics) until Ctrl-C or SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var file = new Option<FileInfo>("--file", "-f") { Description = "Serve this repository file instead of the registry's current version." };
        var project = new Option<string?>("--project")
        {
            Description = "Serve the registry's current version of this project, refreshed when a new one is applied. Env: FEATURESTORE__PROJECT.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__PROJECT"),
        };
        var redis = CommonOptions.Redis();
        var prefix = CommonOptions.KeyPrefix();
        var listen = new Option<string>("--listen") { Description = "Address to listen on (0.0.0.0 in a container).", DefaultValueFactory = _ => "127.0.0.1" };
        var grpcPort = new Option<int>("--grpc-port") { Description = "gRPC port (HTTP/2 without TLS).", DefaultValueFactory = _ => EnvInt("FEATURESTORE__SERVING__GRPCPORT", 6566) };
        var httpPort = new Option<int>("--http-port") { Description = "HTTP port: POST /v1/features/online, /healthz, /readyz, /metrics.", DefaultValueFactory = _ => EnvInt("FEATURESTORE__SERVING__HTTPPORT", 6567) };
        var maxEntities = new Option<int>("--max-entities") { Description = "Most entity rows per lookup; more is refused with RESOURCE_EXHAUSTED.", DefaultValueFactory = _ => 1000 };
        var storeTimeout = new Option<int>("--store-timeout-ms") { Description = "How long a lookup waits for the online store before UNAVAILABLE.", DefaultValueFactory = _ => 1000 };
        var apiKeys = new Option<string[]>("--api-key")
        {
            Description = "Require an API key (repeatable): KEY, or KEY:view_a,view_b to allow only those views. Env: FEATURESTORE__SERVING__APIKEYS (separated by ';').",
            AllowMultipleArgumentsPerToken = false,
            DefaultValueFactory = _ => (Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__APIKEYS") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
        var strategy = new Option<OnlineReadStrategy>("--read-strategy") { Description = "script: one EVALSHA per lookup (single server); pipeline: pipelined HGETALLs (Redis Cluster).", DefaultValueFactory = _ => OnlineReadStrategy.Script };
        var command = new Command("serve", "Serve online lookups over gRPC and HTTP/JSON, with the registry, health, readiness and Prometheus metrics.")
        {
            file, project, redis, prefix, listen, grpcPort, httpPort, maxEntities, storeTimeout, apiKeys, strategy,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var signals = JobConsole.CancelOnSignals(stop, sigint: true);

            Core.Definitions.FeatureRepository? repository = null;
            if (parse.GetValue(file) is { } path)
            {
                var (result, code) = RepositoryFiles.Load(path, error);
                if (code != CliApp.Ok)
                {
                    return code;
                }

                repository = result!.Repository;
            }
            else if (string.IsNullOrWhiteSpace(parse.GetValue(project)))
            {
                await error.WriteLineAsync("give --file FILE (serve a repository file) or --project NAME (serve the registry's current version)");
                return CliApp.Usage;
            }

            if (!IPAddress.TryParse(parse.GetValue(listen), out var address))
            {
                await error.WriteLineAsync($"--listen: '{parse.GetValue(listen)}' is not an IP address");
                return CliApp.Usage;
            }

            ApiKey[] keys;
            try
            {
                keys = [.. parse.GetValue(apiKeys)!.Select(ApiKey.Parse)];
            }
            catch (ArgumentException ex)
            {
                await error.WriteLineAsync($"--api-key: {ex.Message}");
                return CliApp.Usage;
            }

            var timeout = TimeSpan.FromMilliseconds(parse.GetValue(storeTimeout));
            if (await OnlineStores.ConnectAsync(parse.GetValue(redis), error, o => FeatureServer.ConfigureStoreClient(o, timeout)) is not { } store)
            {
                return CliApp.Failure;
            }

            await using (store)
            {
                var options = new FeatureServerOptions
                {
                    Repository = repository,
                    Project = parse.GetValue(project),
                    KeyPrefix = parse.GetValue(prefix)!,
                    ListenAddress = address,
                    GrpcPort = parse.GetValue(grpcPort),
                    HttpPort = parse.GetValue(httpPort),
                    MaxEntities = parse.GetValue(maxEntities),
                    StoreTimeout = timeout,
                    ApiKeys = keys,
                    ReadStrategy = parse.GetValue(strategy),
                };
                await using var server = FeatureServer.Create(options, store.Multiplexer, builder => builder.Logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss ";
                }).SetMinimumLevel(LogLevel.Warning).AddFilter("FeatureStore", LogLevel.Information));
                try
                {
                    await server.StartAsync(stop.Token);
                }
                catch (IOException ex)
                {
                    await error.WriteLineAsync($"cannot listen: {ex.Message}");
                    return CliApp.Failure;
                }

                await output.WriteLineAsync($"serving: grpc={server.GrpcAddress} http={server.HttpAddress} store={store.Endpoint}");
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    // Ctrl-C or SIGTERM
                }

                await server.StopAsync(CancellationToken.None);
                await error.WriteLineAsync("stopped");
                return CliApp.Ok;
            }
        });
        return command;
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : fallback;
}
