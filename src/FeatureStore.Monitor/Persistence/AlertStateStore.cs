using System.Text.Json;
using FeatureStore.Core.Models;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Internal;
using FeatureStore.Redis.Drift;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Persistence;

/// <summary>
/// The incidents hash (<c>PREFIX:{PROJECT}:drift:incidents</c>, key <c>MODEL:VERSION:COLUMN:METHOD</c> → incident
/// JSON) and the retraining triggers' hash (<c>PREFIX:{PROJECT}:drift:retrain</c>, <c>MODEL:VERSION</c> → state
/// JSON): read once at start, written in the transaction of the windows that changed them.
/// </summary>
internal sealed class AlertStateStore(IDatabase database, DriftKeys keys)
{
    public async Task<Dictionary<string, Incident>> LoadIncidentsAsync()
    {
        var incidents = new Dictionary<string, Incident>(StringComparer.Ordinal);
        foreach (var entry in await database.HashGetAllAsync(keys.Incidents).ConfigureAwait(false))
        {
            incidents[entry.Name.ToString()] = JsonSerializer.Deserialize<Incident>(entry.Value.ToString(), DriftJson.Options)!;
        }

        return incidents;
    }

    public void SaveIncidents(ITransaction transaction, IEnumerable<KeyValuePair<string, Incident>> incidents)
    {
        var entries = incidents.Select(i => new HashEntry(i.Key, JsonSerializer.Serialize(i.Value, DriftJson.Options))).ToArray();
        if (entries.Length > 0)
        {
            _ = transaction.HashSetAsync(keys.Incidents, entries);
        }
    }

    public async Task LoadRetrainStatesAsync(RetrainTracker tracker)
    {
        foreach (var entry in await database.HashGetAllAsync(keys.Retrain).ConfigureAwait(false))
        {
            var name = entry.Name.ToString();
            var colon = name.LastIndexOf(':');
            if (colon > 0 && JsonSerializer.Deserialize<RetrainState>(entry.Value.ToString(), DriftJson.Options) is { } state)
            {
                tracker.Restore(name[..colon], name[(colon + 1)..], state);
            }
        }
    }

    public void SaveRetrainStates(ITransaction transaction, IEnumerable<(string Model, string Version, RetrainState State)> states)
    {
        var entries = states.Select(s => new HashEntry($"{s.Model}:{s.Version}", JsonSerializer.Serialize(s.State, DriftJson.Options))).ToArray();
        if (entries.Length > 0)
        {
            _ = transaction.HashSetAsync(keys.Retrain, entries);
        }
    }
}
