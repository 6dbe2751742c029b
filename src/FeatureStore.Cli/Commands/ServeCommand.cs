using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FeatureStore.Redis.Online;
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
        var strategy = new Option<OnlineReadStrategy>("--read-strategy")
        {
            Description = "auto: pipeline on Redis Cluster, script otherwise; script: one EVALSHA per lookup (single server); transaction: one MULTI/EXEC of HVALS per lookup (single server, faster on redis-server); pipeline: pipelined HVALS (any store).",
            DefaultValueFactory = _ => OnlineReadStrategy.Auto,
        };
        var exportStore = new Option<DirectoryInfo?>("--store")
        {
            Description = "The offline store export jobs read (with --export-dir: enables featurestore.v1.ExportJobs). Env: FEATURESTORE__OFFLINE__DIRECTORY.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__OFFLINE__DIRECTORY") is { Length: > 0 } d ? new DirectoryInfo(d) : null,
        };
        var exportDir = new Option<DirectoryInfo?>("--export-dir")
        {
            Description = "The only folder export jobs read entity tables from and write training sets to; request paths are relative to it. Env: FEATURESTORE__SERVING__EXPORTDIRECTORY.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__EXPORTDIRECTORY") is { Length: > 0 } d ? new DirectoryInfo(d) : null,
        };
        var tlsCert = new Option<FileInfo?>("--tls-cert")
        {
            Description = "Serve both ports over TLS with this certificate: a PEM file (with --tls-key) or a PKCS#12 file (.pfx/.p12; password in FEATURESTORE__SERVING__TLSPASSWORD). Env: FEATURESTORE__SERVING__TLSCERT.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__TLSCERT") is { Length: > 0 } path ? new FileInfo(path) : null,
        };
        var tlsKey = new Option<FileInfo?>("--tls-key")
        {
            Description = "The PEM private key of --tls-cert, when the certificate file does not hold it. Env: FEATURESTORE__SERVING__TLSKEY.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__TLSKEY") is { Length: > 0 } path ? new FileInfo(path) : null,
        };
        var kafka = new Option<string?>("--kafka")
        {
            Description = "Kafka bootstrap servers: turns push on (featurestore.v1.Push, POST /v1/push/{source}), events produced to the sources' topics. Env: FEATURESTORE__KAFKA__BOOTSTRAPSERVERS.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FEATURESTORE__KAFKA__BOOTSTRAPSERVERS") is { Length: > 0 } servers && servers != "embedded" ? servers : null,
        };
        var ingestGroup = new Option<string>("--ingest-group")
        {
            Description = "The ingest consumer group whose applied offsets a push with wait=online waits for.",
            DefaultValueFactory = _ => "featurestore-ingest",
        };
        var command = new Command("serve", "Serve online lookups over gRPC and HTTP/JSON, with the registry, health, readiness and Prometheus metrics.")
        {
            file, project, redis, prefix, listen, grpcPort, httpPort, maxEntities, storeTimeout, apiKeys, strategy, exportStore, exportDir, tlsCert, tlsKey, kafka, ingestGroup,
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

            X509Certificate2? certificate = null;
            if (parse.GetValue(tlsCert) is { } certFile)
            {
                try
                {
                    certificate = LoadCertificate(certFile, parse.GetValue(tlsKey));
                }
                catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
                {
                    await error.WriteLineAsync($"--tls-cert: cannot load {certFile}: {ex.Message}");
                    return CliApp.Usage;
                }
            }

            using var ownedCertificate = certificate;
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
                    Certificate = certificate,
                    OfflineStore = parse.GetValue(exportStore)?.FullName,
                    ExportDirectory = parse.GetValue(exportDir)?.FullName,
                    Push = parse.GetValue(kafka) is { Length: > 0 } servers ? new PushOptions { BootstrapServers = servers, IngestGroup = parse.GetValue(ingestGroup)! } : null,
                };
                FeatureServer created;
                try
                {
                    created = FeatureServer.Create(options, store.Multiplexer, builder => builder.Logging.AddSimpleConsole(o =>
                    {
                        o.SingleLine = true;
                        o.TimestampFormat = "HH:mm:ss ";
                    }).SetMinimumLevel(LogLevel.Warning).AddFilter("FeatureStore", LogLevel.Information));
                }
                catch (NotSupportedException ex)
                {
                    await error.WriteLineAsync($"--read-strategy: {ex.Message}");
                    return CliApp.Usage;
                }

                await using var server = created;
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

    private static X509Certificate2 LoadCertificate(FileInfo certificate, FileInfo? key)
    {
        var extension = certificate.Extension.ToLowerInvariant();
        if (extension is ".pfx" or ".p12")
        {
            return X509CertificateLoader.LoadPkcs12FromFile(certificate.FullName, Environment.GetEnvironmentVariable("FEATURESTORE__SERVING__TLSPASSWORD"));
        }

        var pem = X509Certificate2.CreateFromPemFile(certificate.FullName, key?.FullName);
        if (!pem.HasPrivateKey)
        {
            pem.Dispose();
            throw new ArgumentException("the certificate has no private key: give it with --tls-key");
        }

        return pem;
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : fallback;
}
