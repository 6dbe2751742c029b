using System.Text;

namespace FeatureStore.Parquet.Tables;

// The one CSV tokenizer (RFC 4180: commas inside double quotes, "" for a quote). Strict for entity tables:
// every malformed record is refused with file:line:column. Lenient for the values of a baseline or drift
// report, which were always read line by line: a record is one line, stray quotes open a quoted run, text
// after a closing quote is kept, and a quote left open ends with its line or the file.
public static partial class TableReader
{
    private readonly record struct Field(string Value, int Column, bool Quoted);

    /// <summary>
    /// The records of a CSV file one at a time, each with the line it starts on (the header first), so a file of
    /// any size streams; a malformed record throws <see cref="TableFileException"/> with file:line:column.
    /// </summary>
    public static IEnumerable<(int Line, IReadOnlyList<string> Values)> ReadCsvRecords(StreamReader reader, string path)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var nextLine = 1;
        while (true)
        {
            var line = nextLine;
            var record = ReadRecord(reader, path, line, lenient: false, out nextLine);
            if (record is null)
            {
                yield break;
            }

            if (record.Count == 1 && record[0].Value.Length == 0 && !record[0].Quoted)
            {
                continue; // blank line
            }

            yield return (line, record.ConvertAll(f => f.Value));
        }
    }

    private static List<Field>? ReadRecord(StreamReader reader, string path, int line, bool lenient, out int nextLine)
    {
        nextLine = line;
        var first = reader.Peek();
        if (first < 0)
        {
            return null;
        }

        var fields = new List<Field>();
        var text = new StringBuilder();
        var column = 1;
        var fieldColumn = 1;
        var quoted = false;
        var inQuotes = false;
        var startLine = line;
        while (true)
        {
            var c = reader.Read();
            if (c < 0)
            {
                if (inQuotes && !lenient)
                {
                    throw new TableFileException($"{path}:{startLine}:{fieldColumn}: quoted field never closed");
                }

                fields.Add(new Field(text.ToString(), fieldColumn, quoted));
                nextLine++;
                return fields;
            }

            if (inQuotes)
            {
                if (c == '"')
                {
                    if (reader.Peek() == '"')
                    {
                        reader.Read();
                        text.Append('"');
                        column += 2;
                        continue;
                    }

                    inQuotes = false;
                    column++;
                    var after = reader.Peek();
                    if (!lenient && after >= 0 && after != ',' && after != '\r' && after != '\n')
                    {
                        throw new TableFileException($"{path}:{nextLine}:{column}: unexpected character after a closing quote");
                    }

                    continue;
                }

                if (lenient && c is '\n' or '\r')
                {
                    // Lenient records are lines: a quote left open ends with its line.
                    if (c == '\r' && reader.Peek() == '\n')
                    {
                        reader.Read();
                    }

                    fields.Add(new Field(text.ToString(), fieldColumn, quoted));
                    nextLine++;
                    return fields;
                }

                if (c == '\n')
                {
                    nextLine++;
                    column = 0;
                }

                text.Append((char)c);
                column++;
                continue;
            }

            switch (c)
            {
                case ',':
                    fields.Add(new Field(text.ToString(), fieldColumn, quoted));
                    text.Clear();
                    quoted = false;
                    column++;
                    fieldColumn = column;
                    break;
                case '\r' when reader.Peek() == '\n':
                    break;
                case '\n' or '\r':
                    fields.Add(new Field(text.ToString(), fieldColumn, quoted));
                    nextLine++;
                    return fields;
                case '"' when text.Length == 0 && !quoted:
                    inQuotes = true;
                    quoted = true;
                    column++;
                    break;
                case '"' when lenient:
                    inQuotes = true; // a quote anywhere opens a quoted run, as spreadsheets' exports are read
                    quoted = true;
                    column++;
                    break;
                case '"':
                    throw new TableFileException($"{path}:{nextLine}:{column}: a quote inside an unquoted field (quote the whole field and double the quote)");
                default:
                    text.Append((char)c);
                    column++;
                    break;
            }
        }
    }
}
