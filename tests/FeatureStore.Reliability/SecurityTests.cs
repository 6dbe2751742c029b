using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Tests;
using FeatureStore.Redis;
using FeatureStore.Reliability.Helpers;
using FeatureStore.Serving;
using FeatureStore.Testing;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Reliability;

/// <summary>
/// API keys on every endpoint that reads data (gRPC and HTTP), compared in constant time and never
/// logged; webhook secrets and store passwords never logged; serving over TLS with a certificate file;
/// the online store over TLS (redis-server built with TLS).
/// </summary>
[Trait("Category", "Integration")]
public sealed class SecurityTests(RedisServerFixture redis, EmbeddedKafkaFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<EmbeddedKafkaFixture>, IDisposable
{
    private const string Key = "fsk_live_7c1e2b9d4a";
    private const string OtherKey = "fsk_live_wrong_0000";

    // Probes and scrapes stay open, as orchestrators and Prometheus call them without credentials;
    // reflection describes only the public contracts in schemas/. Everything else needs the key.
    // The dashboard's page and assets hold no data (its JSON endpoints do, and need the key).
    private static readonly HashSet<string> OpenHttp = ["/healthz", "/readyz", "/metrics", "/", "/dashboard", "/dashboard/{file}"];
    private static readonly string[] OpenGrpcServices = ["grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"];

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-sec-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static FeatureRepository Repository() => FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("sec"), "stest.yaml").Repository!;

    private FeatureServer Server(CapturedLogs? logs = null, X509Certificate2Holder? tls = null, IReadOnlyList<ApiKey>? keys = null, StackExchange.Redis.IConnectionMultiplexer? store = null) =>
        FeatureServer.Create(new FeatureServerOptions
        {
            Repository = Repository(),
            KeyPrefix = "k" + Guid.NewGuid().ToString("N")[..8],
            GrpcPort = FreePort.Next(),
            HttpPort = FreePort.Next(),
            ApiKeys = keys ?? [new ApiKey(Key)],
            Certificate = tls?.Certificate,

            // Not a test of timeouts: a loaded machine may hold a read past the default second.
            StoreTimeout = TimeSpan.FromSeconds(30),
        }, store ?? redis.Connection.Multiplexer, builder =>
        {
            if (logs is not null)
            {
                builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Trace);
            }
        });

    [Fact]
    public async Task Every_endpoint_that_reads_data_requires_the_api_key_over_grpc_and_http()
    {
        await using var server = Server();
        await server.StartAsync(Ct);
        using var grpc = new RawGrpc(server.GrpcAddress);
        using var http = new HttpClient { BaseAddress = server.HttpAddress };
        var endpoints = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        int protectedGrpc = 0, protectedHttp = 0, open = 0, calls = 0;
        foreach (var endpoint in endpoints)
        {
            var route = endpoint.RoutePattern.RawText ?? "";
            if (route.Contains("unimplemented", StringComparison.OrdinalIgnoreCase))
            {
                continue; // gRPC's catch-all for unknown methods: answers UNIMPLEMENTED
            }

            if (endpoint.Metadata.GetMetadata<GrpcMethodMetadata>() is { } grpcMethod)
            {
                var service = grpcMethod.Method.ServiceName;
                if (OpenGrpcServices.Contains(service))
                {
                    open++;
                    continue;
                }

                Assert.True(service.StartsWith("featurestore.v1.", StringComparison.Ordinal), $"gRPC service {service} is not classified: decide whether it needs the API key (docs/reliability.md)");
                // A raw call of one message fits a unary method and a bidirectional stream alike.
                Assert.Contains(grpcMethod.Method.Type, new[] { MethodType.Unary, MethodType.DuplexStreaming });
                var name = grpcMethod.Method.FullName;
                var request = Array.Empty<byte>();
                Assert.Equal(StatusCode.Unauthenticated, (await grpc.CallAsync(name, request)).Status);
                Assert.Equal(StatusCode.Unauthenticated, (await grpc.CallAsync(name, request, OtherKey)).Status);
                Assert.Equal(StatusCode.Unauthenticated, (await grpc.CallAsync(name, request, Key + "x")).Status);
                Assert.NotEqual(StatusCode.Unauthenticated, (await grpc.CallAsync(name, request, Key)).Status);
                calls += 4;
                protectedGrpc++;
                continue;
            }

            if (OpenHttp.Contains(route))
            {
                using var probe = await http.GetAsync(new Uri(route, UriKind.Relative), Ct);
                Assert.NotEqual(HttpStatusCode.Unauthorized, probe.StatusCode);
                calls++;
                open++;
                continue;
            }

            if (route.StartsWith("/v1/dashboard/", StringComparison.Ordinal) || route is "/v1/drift/history" or "/v1/registry" or "/v1/performance/{model}/{version}" or "/v1/models/{model}/history" or "/v1/quality")
            {
                var target = route switch
                {
                    "/v1/drift/history" => route + "?model=fraud&version=v1",
                    "/v1/performance/{model}/{version}" => "/v1/performance/fraud/v1",
                    "/v1/models/{model}/history" => "/v1/models/fraud/history",
                    _ => route,
                };
                foreach (var (key, expected) in new (string?, bool)[] { (null, false), (OtherKey, false), (Key + "x", false), (Key, true) })
                {
                    using var get = new HttpRequestMessage(HttpMethod.Get, new Uri(target, UriKind.Relative));
                    if (key is not null)
                    {
                        get.Headers.TryAddWithoutValidation("x-api-key", key);
                    }

                    using var answer = await http.SendAsync(get, Ct);
                    Assert.True(expected == (answer.StatusCode != HttpStatusCode.Unauthorized), $"{route} with {key ?? "no key"}: {(int)answer.StatusCode}");
                    calls++;
                }

                protectedHttp++;
                continue;
            }

            if (route == "/v1/push/{source}")
            {
                // A write: no key or a wrong one is UNAUTHENTICATED; this read key is known but lacks the write scope.
                foreach (var (key, expected) in new (string?, HttpStatusCode)[] { (null, HttpStatusCode.Unauthorized), (OtherKey, HttpStatusCode.Unauthorized), (Key, HttpStatusCode.Forbidden) })
                {
                    using var push = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/push/payments", UriKind.Relative)) { Content = new StringContent("[]", Encoding.UTF8, "application/json") };
                    if (key is not null)
                    {
                        push.Headers.TryAddWithoutValidation("x-api-key", key);
                    }

                    using var answer = await http.SendAsync(push, Ct);
                    Assert.True(expected == answer.StatusCode, $"{route} with {key ?? "no key"}: {(int)answer.StatusCode}");
                    calls++;
                }

                protectedHttp++;
                continue;
            }

            Assert.True(route == "/v1/features/online", $"HTTP endpoint {route} is not classified: decide whether it needs the API key (docs/reliability.md)");
            var body = JsonFormatter.Default.Format(new GetOnlineFeaturesRequest { Features = { "user_stats:n_1h" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } });
            foreach (var (header, value, expected) in new (string?, string?, bool)[]
            {
                (null, null, false), ("x-api-key", OtherKey, false), ("x-api-key", "", false), ("authorization", "Bearer " + OtherKey, false),
                ("authorization", "Basic " + Key, false), ("x-api-key", Key, true), ("authorization", "Bearer " + Key, true),
            })
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(route, UriKind.Relative)) { Content = new StringContent(body) };
                if (header is not null)
                {
                    request.Headers.TryAddWithoutValidation(header, value);
                }

                using var response = await http.SendAsync(request, Ct);
                Assert.True(expected == (response.StatusCode != HttpStatusCode.Unauthorized), $"{route} with {header ?? "no key"}: {(int)response.StatusCode}");
                calls++;
            }

            protectedHttp++;
        }

        Assert.True(protectedGrpc >= 10, $"expected the lookup and the registry's methods, found {protectedGrpc}");
        Assert.Equal(12, protectedHttp); // the lookup, five dashboard data endpoints, the drift history, the performance history, the registry, the model stage history, the quality answer, the push
        Figures.Report("security / API keys", $"endpoints: protected gRPC={protectedGrpc} protected HTTP={protectedHttp} open (health, readiness, metrics, reflection)={open}; calls={calls}, every keyless or wrong-key call UNAUTHENTICATED/401");
    }

    [Fact]
    public async Task Api_keys_and_store_passwords_never_reach_the_logs()
    {
        var logs = new CapturedLogs();
        await using (var server = Server(logs, keys: [new ApiKey(Key, ["user_stats"])]))
        {
            await server.StartAsync(Ct);
            using var grpc = new RawGrpc(server.GrpcAddress);
            using var http = new HttpClient { BaseAddress = server.HttpAddress };
            var body = JsonFormatter.Default.Format(new GetOnlineFeaturesRequest { Features = { "merchant_stats:n_1h" }, Entities = { new EntityRow { JoinKeys = { ["merchant_id"] = "m1" } } } });
            foreach (var key in new[] { Key, OtherKey, "" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/features/online", UriKind.Relative)) { Content = new StringContent(body) };
                request.Headers.TryAddWithoutValidation("x-api-key", key);
                using var _ = await http.SendAsync(request, Ct);
                await grpc.CallAsync("featurestore.v1.OnlineFeatures/GetOnlineFeatures", new GetOnlineFeaturesRequest { Features = { "merchant_stats:n_1h" } }.ToByteArray(), key);
                await grpc.CallAsync("featurestore.v1.Registry/ListModels", [], key);
            }
        }

        // A server whose store is down: lookups fail and are logged, with the store's address.
        const string Password = "redis-pass-93b1f0";
        var dead = FreePort.Next();
        await using (var store = await OnlineStoreConnection.ConnectAsync($"127.0.0.1:{dead},password={Password}", TimeSpan.FromMilliseconds(200), o => FeatureServer.ConfigureStoreClient(o, TimeSpan.FromMilliseconds(300))))
        {
            Assert.DoesNotContain(Password, store.Endpoint, StringComparison.Ordinal);
            await using var server = Server(logs, store: store.Multiplexer);
            await server.StartAsync(Ct);
            using var grpc = new RawGrpc(server.GrpcAddress);
            var lookup = new GetOnlineFeaturesRequest { Features = { "user_stats:n_1h" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } };
            Assert.Equal(StatusCode.Unavailable, (await grpc.CallAsync("featurestore.v1.OnlineFeatures/GetOnlineFeatures", lookup.ToByteArray(), Key)).Status);
        }

        var refused = await Assert.ThrowsAsync<OnlineStoreUnavailableException>(() => OnlineStoreConnection.ConnectAsync($"127.0.0.1:{dead},password={Password}", TimeSpan.FromMilliseconds(200)));
        Assert.DoesNotContain(Password, refused.ToString(), StringComparison.Ordinal);

        Assert.Contains("lookup failed", logs.Text, StringComparison.Ordinal); // the capture saw the failures
        Assert.DoesNotContain(Key, logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(OtherKey, logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, logs.Text, StringComparison.Ordinal);

        // The serve command prints its store: without the password.
        var file = Path.Combine(_dir, "serve.yaml");
        await File.WriteAllTextAsync(file, PaymentsRepository.Yaml("sec"), Ct);
        await using (var serve = ChildProcess.StartDotnet(TestCli.Path,
        [
            "serve", "-f", file, "--redis", $"127.0.0.1:{dead},password={Password}", "--grpc-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
            "--http-port", FreePort.Next().ToString(CultureInfo.InvariantCulture), "--api-key", Key,
        ]))
        {
            var line = await serve.WaitForLineAsync(l => l.StartsWith("serving:", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Ct);
            serve.Terminate();
            await serve.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
            var all = string.Join('\n', serve.Lines) + serve.ErrorText;
            Assert.DoesNotContain(Password, all, StringComparison.Ordinal);
            Assert.DoesNotContain(Key, all, StringComparison.Ordinal);
            Assert.Contains("store=127.0.0.1:", line, StringComparison.Ordinal);
        }

        Figures.Report("security / secrets in logs", $"log records captured={logs.Records.Count} (all categories, Trace) containing an API key or store password=0");
    }

    [Fact]
    public async Task Webhook_secrets_never_reach_the_logs()
    {
        var logs = new CapturedLogs();
        var port = FreePort.Next();
        var url = $"http://127.0.0.1:{port}/alerts/";
        var topic = kafka.CreateTopic("secretlog", partitions: 1);
        var db = redis.Connection.Database;
        var harness = await MonitorHarness.CreateAsync(db, topic, url);
        await using var monitor = harness.Start(kafka.BootstrapServers, db, "monitor-" + Guid.NewGuid().ToString("N"), logs.CreateLogger("monitor"));
        using var producer = kafka.CreateProducer();
        MonitorScenario.Produce(producer, topic, MonitorScenario.Scores(seed: 2, count: MonitorScenario.Window, mean: 0.6), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        // Deliveries fail while nothing listens (logged), then succeed (logged).
        await Eventually.TrueAsync(() => monitor.Metrics.DeliveryFailures >= 2, TimeSpan.FromSeconds(60), "failed deliveries", Ct);
        await using (var receiver = new WebhookReceiver(port))
        {
            await Eventually.TrueAsync(() => receiver.Requests.Count >= 2, TimeSpan.FromSeconds(60), "alerts delivered", Ct);
            Assert.All(receiver.Requests, r => Assert.Equal(Monitor.Alerts.WebhookSender.Sign(r.Body, MonitorHarness.Secret), r.Signature));
            Assert.All(receiver.Requests, r => Assert.DoesNotContain(MonitorHarness.Secret, r.Text, StringComparison.Ordinal));
        }

        Assert.Contains("delivered", logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(MonitorHarness.Secret, logs.Text, StringComparison.Ordinal);
        Figures.Report("security / webhook secrets", $"log records={logs.Records.Count}, failed deliveries={monitor.Metrics.DeliveryFailures}, delivered={monitor.Metrics.AlertsDelivered}; records containing the secret=0, alert bodies containing it=0");
    }

    [Fact]
    public async Task Serving_over_tls_with_a_certificate_answers_grpc_and_https_and_refuses_cleartext()
    {
        using var tls = SelfSigned.Create();
        await using var server = Server(tls: new X509Certificate2Holder(tls.Certificate));
        await server.StartAsync(Ct);
        Assert.Equal("https", server.GrpcAddress.Scheme);
        Assert.Equal("https", server.HttpAddress.Scheme);

        using var http = new HttpClient(tls.Handler()) { BaseAddress = server.HttpAddress };
        var body = JsonFormatter.Default.Format(new GetOnlineFeaturesRequest { Features = { "user_stats:n_1h" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } });
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/features/online", UriKind.Relative)) { Content = new StringContent(body) };
        request.Headers.Add("x-api-key", Key);
        using (var response = await http.SendAsync(request, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var grpc = new RawGrpc(server.GrpcAddress, tls.Handler());
        var lookup = new GetOnlineFeaturesRequest { Features = { "user_stats:n_1h" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } };
        Assert.Equal(StatusCode.OK, (await grpc.CallAsync("featurestore.v1.OnlineFeatures/GetOnlineFeatures", lookup.ToByteArray(), Key)).Status);

        // Cleartext to the TLS port, and a client that does not trust the certificate, get nowhere.
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync(new Uri($"http://127.0.0.1:{server.HttpAddress.Port}/healthz"), Ct));
        using var untrusting = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => untrusting.GetAsync(new Uri(server.HttpAddress, "/healthz"), Ct));

        // The serve command loads a PEM certificate and key.
        var certFile = Path.Combine(_dir, "tls.crt");
        var keyFile = Path.Combine(_dir, "tls.key");
        await File.WriteAllTextAsync(certFile, tls.CertificatePem, Ct);
        await File.WriteAllTextAsync(keyFile, tls.KeyPem, Ct);
        var file = Path.Combine(_dir, "serve.yaml");
        await File.WriteAllTextAsync(file, PaymentsRepository.Yaml("sec"), Ct);
        var httpPort = FreePort.Next();
        await using var serve = ChildProcess.StartDotnet(TestCli.Path,
        [
            "serve", "-f", file, "--redis", redis.Connection.Endpoint, "--grpc-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
            "--http-port", httpPort.ToString(CultureInfo.InvariantCulture), "--tls-cert", certFile, "--tls-key", keyFile,
        ]);
        var line = await serve.WaitForLineAsync(l => l.StartsWith("serving:", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Ct);
        Assert.Contains("grpc=https://", line, StringComparison.Ordinal);
        using (var healthy = await http.GetAsync(new Uri($"https://127.0.0.1:{httpPort}/healthz"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
        }

        serve.Terminate();
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct));
        Figures.Report("security / TLS serving", "HTTPS and gRPC over TLS answered with a self-signed certificate (in process and `serve --tls-cert/--tls-key`); cleartext and untrusting clients refused");
    }

    [Fact]
    public async Task The_online_store_over_tls_serves_lookups()
    {
        using var tls = SelfSigned.Create();
        var certFile = Path.Combine(_dir, "redis.crt");
        var keyFile = Path.Combine(_dir, "redis.key");
        await File.WriteAllTextAsync(certFile, tls.CertificatePem, Ct);
        await File.WriteAllTextAsync(keyFile, tls.KeyPem, Ct);
        if (!RedisServer.IsInstalled)
        {
            throw ServiceRequirement.Missing(RedisServer.NotInstalled);
        }

        var port = FreePort.Next();
        var info = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir };
        foreach (var arg in new[]
        {
            "--port", "0", "--tls-port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--tls-cert-file", certFile, "--tls-key-file", keyFile,
            "--tls-ca-cert-file", certFile, "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", _dir,
        })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => output.AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => output.AppendLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var configuration = $"127.0.0.1:{port},ssl=true,sslHost=localhost";
            OnlineStoreConnection? store = null;
            await Eventually.TrueAsync(async () =>
            {
                Assert.False(process.HasExited, "redis-server exited: " + output);
                store = await OnlineStoreConnection.ConnectAsync(configuration, TimeSpan.FromSeconds(2), o => o.CertificateValidation += (_, presented, _, _) => tls.Trusts(presented));
                return true;
            }, TimeSpan.FromSeconds(30), "redis-server answering over TLS", Ct);
            await using (store)
            {
                await store!.Database.StringSetAsync("tls-probe", "ok");
                Assert.Equal("ok", (string?)await store.Database.StringGetAsync("tls-probe"));
                await using var server = Server(store: store.Multiplexer, keys: []);
                await server.StartAsync(Ct);
                using var grpc = new RawGrpc(server.GrpcAddress);
                var lookup = new GetOnlineFeaturesRequest { Features = { "user_stats:n_1h" }, Entities = { new EntityRow { JoinKeys = { ["user_id"] = "u1" } } } };
                Assert.Equal(StatusCode.OK, (await grpc.CallAsync("featurestore.v1.OnlineFeatures/GetOnlineFeatures", lookup.ToByteArray())).Status);
            }

            // Cleartext to the TLS port, and TLS without trusting the certificate, fail.
            await Assert.ThrowsAsync<OnlineStoreUnavailableException>(() => OnlineStoreConnection.ConnectAsync($"127.0.0.1:{port}", TimeSpan.FromSeconds(1)));
            await Assert.ThrowsAsync<OnlineStoreUnavailableException>(() => OnlineStoreConnection.ConnectAsync(configuration, TimeSpan.FromSeconds(1)));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        }

        Figures.Report("security / TLS online store", "redis-server 7.0 (Debian, built with TLS) on --tls-port: connected with ssl=true, lookups served; cleartext and untrusted clients refused");
    }

    /// <summary>Keeps the server's certificate optional in <see cref="Server"/>'s signature.</summary>
    private sealed record X509Certificate2Holder(System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate);
}
