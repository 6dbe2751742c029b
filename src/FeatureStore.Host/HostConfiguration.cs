using FeatureStore.Core.Definitions;
using Microsoft.Extensions.Configuration;
using FeatureStore.Host.Configuration;

namespace FeatureStore.Host;

/// <summary>Reads the host's configuration: the file, then <c>FEATURESTORE__…</c> environment variables over it.</summary>
public static class HostConfiguration
{
    /// <summary>The prefix of the environment variables that override the file (<c>FEATURESTORE__JOBS__SERVE__HTTPPORT</c>).</summary>
    public const string EnvironmentPrefix = "FEATURESTORE__";

    /// <summary>
    /// Reads <paramref name="path"/> (YAML or JSON) and the environment. Relative paths in it (repository,
    /// offline directory, the rebuild's spill directory) are taken relative to the file's folder.
    /// </summary>
    /// <exception cref="HostConfigurationException">A value cannot be read.</exception>
    public static HostSettings Load(string path, IReadOnlyDictionary<string, string?>? overrides = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var builder = new ConfigurationBuilder().Add(new YamlConfigurationSource(full)).AddEnvironmentVariables(EnvironmentPrefix);
        if (overrides is not null)
        {
            builder.AddInMemoryCollection(overrides);
        }

        HostSettings settings;
        try
        {
            Check(path, full, overrides);
            settings = builder.Build().Get<HostSettings>() ?? new HostSettings();
        }
        catch (InvalidOperationException ex)
        {
            throw new HostConfigurationException($"{path}: {ex.Message}");
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new HostConfigurationException($"{path}:{ex.Start.Line}:{ex.Start.Column}: {ex.Message}");
        }

        var folder = Path.GetDirectoryName(full)!;
        settings.Repository = Path.GetFullPath(settings.Repository, folder);
        settings.Offline.Directory = Path.GetFullPath(settings.Offline.Directory, folder);
        if (settings.Jobs.Rebuild.SpillDirectory is { } spill)
        {
            settings.Jobs.Rebuild.SpillDirectory = Path.GetFullPath(spill, folder);
        }

        Validate(settings);
        return settings;
    }

    // Every unknown key of the file and every value of the wrong type (file, environment, overrides) at once,
    // before binding: the binder ignores unknown keys and names CLR types in its conversion errors.
    private static void Check(string path, string full, IReadOnlyDictionary<string, string?>? overrides)
    {
        var text = File.ReadAllText(full);
        IReadOnlyList<YamlEntry> entries;
        try
        {
            entries = YamlConfigurationSource.Read(text);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // The YAML reader fails this way, without a position, on some input (an unclosed bracket).
            var problem = YamlErrors.Locate(text);
            throw new HostConfigurationException($"{path}:{problem.Line}:{problem.Column}: not valid YAML: {problem.Message} (hint: {problem.Hint})");
        }

        var keys = new Dictionary<string, YamlEntry>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in entries)
        {
            keys.TryAdd(entry.Key, entry);
        }

        string At(TextPosition? at) => at is { } p ? $"{path}:{p.Line}:{p.Column}: " : $"{path}: ";
        var problems = SettingsCheck.Problems(
            entries.Select(e => (e.Key, e.Value)),
            key => At(keys.GetValueOrDefault(key)?.KeyAt),
            key => At(keys.GetValueOrDefault(key)?.ValueAt),
            key => key,
            unknownKeys: true);
        var environment = new ConfigurationBuilder().AddEnvironmentVariables(EnvironmentPrefix).Build().AsEnumerable()
            .Where(e => e.Value is not null).Select(e => (e.Key, e.Value));
        problems.AddRange(SettingsCheck.Problems(environment, _ => "", _ => "", key => EnvironmentPrefix + key.Replace(".", "__", StringComparison.Ordinal), unknownKeys: false));
        if (overrides is not null)
        {
            problems.AddRange(SettingsCheck.Problems(overrides.Select(o => (o.Key, o.Value)), _ => "", _ => "", key => key, unknownKeys: true));
        }

        if (problems.Count > 0)
        {
            throw new HostConfigurationException(string.Join('\n', problems));
        }
    }

    private static void Validate(HostSettings s)
    {
        _ = HostSettings.Time(s.Kafka.SessionTimeout, "kafka.sessionTimeout");
        _ = HostSettings.Time(s.Supervision.InitialBackoff, "supervision.initialBackoff");
        _ = HostSettings.Time(s.Supervision.MaxBackoff, "supervision.maxBackoff");
        _ = HostSettings.Time(s.Supervision.ResetAfter, "supervision.resetAfter");
        _ = HostSettings.Time(s.Supervision.ShutdownTimeout, "supervision.shutdownTimeout");
        _ = HostSettings.Time(s.Jobs.Offline.BatchDelay, "jobs.offline.batchDelay");
        _ = HostSettings.Time(s.Jobs.Serve.StoreTimeout, "jobs.serve.storeTimeout");
        _ = HostSettings.Time(s.Jobs.Backfill.Interval, "jobs.backfill.interval");
        _ = HostSettings.Time(s.Jobs.Compaction.Interval, "jobs.compaction.interval");
        _ = HostSettings.Time(s.Jobs.Compaction.Grace, "jobs.compaction.grace");
        _ = HostSettings.Time(s.Models.StagePollInterval, "models.stagePollInterval");
        if (s.Log.Format is not ("simple" or "json"))
        {
            throw new HostConfigurationException($"log.format: '{s.Log.Format}' is neither simple nor json");
        }

        if (!Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(s.Log.Level, ignoreCase: true, out _))
        {
            throw new HostConfigurationException($"log.level: '{s.Log.Level}' is not a level (Trace, Debug, Information, Warning, Error)");
        }

        if (s.Jobs.Serve.ReadStrategy is not ("auto" or "script" or "transaction" or "pipeline"))
        {
            throw new HostConfigurationException($"jobs.serve.readStrategy: '{s.Jobs.Serve.ReadStrategy}' is none of auto, script, transaction, pipeline");
        }

        if (s.Jobs.Compaction.TargetRows < 2)
        {
            throw new HostConfigurationException($"jobs.compaction.targetRows: {s.Jobs.Compaction.TargetRows} is too small (2 or more)");
        }

        if (HostSettings.Time(s.Jobs.Compaction.Interval, "jobs.compaction.interval") <= TimeSpan.Zero)
        {
            throw new HostConfigurationException("jobs.compaction.interval: must be more than 0");
        }

        if (s.Models.RetrainAfterWindows < 0)
        {
            throw new HostConfigurationException("models.retrainAfterWindows: must be 0 (off) or more");
        }
    }
}
