using FeatureStore.Core.Definitions;
using FeatureStore.Host.Jobs;
using FeatureStore.Redis.Online;
using FeatureStore.Serving;
using FeatureStore.Testing;

namespace FeatureStore.Host.Tests;

/// <summary>
/// The one mapping from host settings to each job's options, which `run`, `demo`, `ingest` and `monitor` share.
/// </summary>
public sealed class HostJobOptionsUnitTests
{
    [Fact]
    public void Ingest_and_offline_options_come_from_their_job_settings_and_the_kafka_section()
    {
        var settings = new HostSettings
        {
            Kafka = { SessionTimeout = "2500ms", Settings = { ["security.protocol"] = "SSL" } },
            Offline = { Directory = "/data/offline" },
            Jobs =
            {
                Ingest = { Group = "g", BatchEvents = 0 },
                Offline = { Group = "g.offline", BatchEvents = 7, BatchDelay = "250ms" },
            },
        };

        var ingest = HostJobOptions.Ingest(settings, "broker:9092");
        Assert.Equal("broker:9092", ingest.BootstrapServers);
        Assert.Equal("g", ingest.GroupId);
        Assert.Equal(1, ingest.MaxBatchEvents); // at least one event per batch
        Assert.Equal(TimeSpan.FromMilliseconds(2500), ingest.SessionTimeout);
        Assert.Equal("SSL", ingest.KafkaSettings["security.protocol"]);
        Assert.Null(ingest.FetchWait); // librdkafka's own wait against real brokers
        Assert.Equal(TimeSpan.FromMilliseconds(10), HostJobOptions.Ingest(settings, "127.0.0.1:1", embeddedBroker: true).FetchWait);

        var offline = HostJobOptions.Offline(settings, "broker:9092");
        Assert.Equal("/data/offline", offline.Directory);
        Assert.Equal("g.offline", offline.GroupId);
        Assert.Equal(7, offline.MaxBatchEvents);
        Assert.Equal(TimeSpan.FromMilliseconds(250), offline.MaxBatchDelay);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), offline.SessionTimeout);
    }

    [Fact]
    public void The_rebuild_job_runs_by_default_exactly_where_ingest_and_the_offline_writer_run_and_reads_their_group_and_folder()
    {
        Assert.True(HostJobOptions.RebuildEnabled(new HostSettings()));
        Assert.False(HostJobOptions.RebuildEnabled(new HostSettings { Jobs = { Offline = { Enabled = false } } }));
        Assert.False(HostJobOptions.RebuildEnabled(new HostSettings { Jobs = { Ingest = { Enabled = false } } }));
        Assert.True(HostJobOptions.RebuildEnabled(new HostSettings { Jobs = { Ingest = { Enabled = false }, Offline = { Enabled = false }, Rebuild = { Enabled = true } } }));
        Assert.False(HostJobOptions.RebuildEnabled(new HostSettings { Jobs = { Rebuild = { Enabled = false } } }));

        var settings = new HostSettings
        {
            Redis = { KeyPrefix = "p" },
            Offline = { Directory = "/data/offline" },
            Jobs = { Ingest = { Group = "g" }, Rebuild = { PollInterval = "250ms", RegistryPollInterval = "1m", SpillDirectory = "/data/spill" } },
        };
        var rebuild = HostJobOptions.Rebuild(settings, "shop");
        Assert.Equal("shop", rebuild.Project);
        Assert.Equal("p", rebuild.KeyPrefix);
        Assert.Equal(TimeSpan.FromMinutes(1), rebuild.RegistryPollInterval);
        Assert.Equal("/data/offline", rebuild.Rebuild.StoreDirectory);
        Assert.Equal("g", rebuild.Rebuild.IngestGroup);
        Assert.Equal(TimeSpan.FromMilliseconds(250), rebuild.Rebuild.PollInterval);
        Assert.Equal("/data/spill", rebuild.Rebuild.SpillDirectory);

        settings.Jobs.Rebuild.PollInterval = "often";
        Assert.Contains("jobs.rebuild.pollInterval", Assert.Throws<HostConfigurationException>(() => HostJobOptions.Rebuild(settings, "shop")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Monitor_options_keep_the_monitors_defaults_unless_the_extensions_set_them()
    {
        var settings = new HostSettings { Jobs = { Monitor = { Group = "m", LearnedThresholds = true } }, Models = { RetrainAfterWindows = 3, StagePollInterval = "1s" } };
        var plain = HostJobOptions.Monitor(settings, "b");
        var defaults = new Monitor.Job.MonitorOptions { BootstrapServers = "b" };
        Assert.Equal("m", plain.GroupId);
        Assert.True(plain.UseLearnedThresholds);
        Assert.Equal(3, plain.RetrainAfterWindows);
        Assert.Equal(TimeSpan.FromSeconds(1), plain.ModelStagePollInterval);
        Assert.Equal(defaults.OutboxPollInterval, plain.OutboxPollInterval);
        Assert.Same(defaults.Secrets, plain.Secrets);

        var extended = HostJobOptions.Monitor(settings, "b", new HostExtensions { WebhookSecrets = _ => "s3cret", AlertPollInterval = TimeSpan.FromMilliseconds(200) });
        Assert.Equal("s3cret", extended.Secrets("ANY"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), extended.OutboxPollInterval);
    }

    [Fact]
    public void Serve_options_read_the_strategy_and_name_the_key_of_a_wrong_value()
    {
        var repository = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments"), "featurestore.yaml").Repository!;
        var settings = new HostSettings { Redis = { KeyPrefix = "p" }, Jobs = { Serve = { ReadStrategy = "transaction", ApiKeys = ["k:user_stats"], StoreTimeout = "2s" } } };
        var options = HostJobOptions.Serve(settings, repository);
        Assert.Null(options.Repository); // the registry's current version, as ingest and rebuild follow it
        Assert.Equal(repository.Project, options.Project);
        Assert.Equal("p", options.KeyPrefix);
        Assert.Equal(OnlineReadStrategy.Transaction, options.ReadStrategy);
        Assert.Equal(TimeSpan.FromSeconds(2), options.StoreTimeout);
        Assert.Equal(["user_stats"], options.ApiKeys.Single().Views!);

        settings.Jobs.Serve.Listen = "localhost:1";
        Assert.Contains("jobs.serve.listen", Assert.Throws<HostConfigurationException>(() => HostJobOptions.Serve(settings, repository)).Message, StringComparison.Ordinal);
        settings.Jobs.Serve.Listen = "127.0.0.1";
        settings.Jobs.Serve.StoreTimeout = "soon";
        Assert.Contains("jobs.serve.storeTimeout", Assert.Throws<HostConfigurationException>(() => HostJobOptions.Serve(settings, repository)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_serve_job_pushes_to_the_hosts_kafka_and_waits_for_its_ingest_group()
    {
        var repository = FeatureRepositoryLoader.LoadFromText(PaymentsRepository.Yaml("payments"), "featurestore.yaml").Repository!;
        var settings = new HostSettings { Kafka = { Settings = { ["security.protocol"] = "SSL" } }, Jobs = { Ingest = { Group = "g" }, Serve = { ApiKeys = ["w@write"] } } };
        Assert.Null(HostJobOptions.Serve(settings, repository).Push);
        var push = HostJobOptions.Serve(settings, repository, "broker:9092").Push!;
        Assert.Equal(("broker:9092", "g", "SSL"), (push.BootstrapServers, push.IngestGroup, push.KafkaSettings["security.protocol"]));
        Assert.Equal(ApiKeyScopes.Write, HostJobOptions.Serve(settings, repository).ApiKeys.Single().Scopes);
    }
}
