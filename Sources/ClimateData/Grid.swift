import Foundation
import NetCDF

/// The horizontal grid shared by every channel: rows (y, latitude when
/// known) in file order, columns (x, longitude when known) in file order.
public struct Grid: Equatable, Sendable {
    public let height: Int
    public let width: Int
    public let rowDimension: String
    public let columnDimension: String
    /// Latitude of each row, in file order (ascending or descending), when found.
    public let latitudes: [Double]?
    /// Longitude of each column, when found.
    public let longitudes: [Double]?
    /// Longitudes evenly spaced over 360 degrees: tiles wrap across the date line.
    public let isGlobal: Bool
    /// w_y = cos(lat_y) / mean over all rows of cos(lat); 1 without latitudes (MODEL.md loss).
    public let latitudeWeights: [Double]

    public init(height: Int, width: Int, rowDimension: String, columnDimension: String,
                latitudes: [Double]?, longitudes: [Double]?) {
        self.height = height
        self.width = width
        self.rowDimension = rowDimension
        self.columnDimension = columnDimension
        self.latitudes = latitudes
        self.longitudes = longitudes
        isGlobal = longitudes.map(Grid.spans360) ?? false
        if let lat = latitudes {
            let c = lat.map { cos($0 * Double.pi / 180) }
            let mean = c.reduce(0, +) / Double(c.count)
            latitudeWeights = mean > 0 ? c.map { $0 / mean } : [Double](repeating: 1, count: height)
        } else {
            latitudeWeights = [Double](repeating: 1, count: height)
        }
    }

    /// Evenly spaced (to 0.1% of a step) with n steps covering 360 degrees.
    static func spans360(_ lon: [Double]) -> Bool {
        let n = lon.count
        guard n >= 2 else { return false }
        let d = (lon[n - 1] - lon[0]) / Double(n - 1)
        guard d != 0 else { return false }
        for i in 1 ..< n where abs((lon[i] - lon[i - 1]) - d) > 1e-3 * abs(d) { return false }
        return abs(Double(n) * abs(d) - 360) <= 1e-3 * abs(d)
    }

    public var latitudeOrder: String {
        guard let lat = latitudes, lat.count > 1 else { return "none" }
        return lat[0] < lat[lat.count - 1] ? "ascending (south to north)" : "descending (north to south)"
    }

    /// Same shape and coordinates (to 1e-5 degrees).
    func matches(_ o: Grid) -> String? {
        if height != o.height || width != o.width { return "\(height) x \(width) vs \(o.height) x \(o.width)" }
        func close(_ a: [Double]?, _ b: [Double]?) -> Bool {
            guard let a, let b else { return (a == nil) == (b == nil) }
            return zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 }
        }
        if !close(latitudes, o.latitudes) { return "latitudes differ" }
        if !close(longitudes, o.longitudes) { return "longitudes differ" }
        return nil
    }
}

/// Finds latitude/longitude coordinate variables by name, `standard_name`,
/// `axis` or `units` (CF conventions 4.1, 4.2).
enum CoordinateKind {
    case latitude, longitude, level, time, other

    static func of(_ v: NetCDFVariable) throws -> CoordinateKind {
        let a = try v.attributes()
        let name = v.name.lowercased()
        let std = a["standard_name"]?.text?.lowercased() ?? ""
        let units = (a["units"]?.text ?? "").lowercased().replacingOccurrences(of: " ", with: "")
        let axis = a["axis"]?.text?.uppercased() ?? ""
        if std == "latitude" || ["degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"].contains(units)
            || ["lat", "latitude", "lats", "nav_lat", "rlat_deg"].contains(name) || axis == "Y" && units.hasPrefix("degree") {
            return .latitude
        }
        if std == "longitude" || ["degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"].contains(units)
            || ["lon", "longitude", "lons", "long", "nav_lon"].contains(name) || axis == "X" && units.hasPrefix("degree") {
            return .longitude
        }
        if std == "time" || axis == "T" || units.contains("since") || ["time", "t", "timestep", "times"].contains(name) { return .time }
        if axis == "Z" || a["positive"] != nil || ["lev", "level", "levels", "plev", "pressure", "height", "depth", "z", "isobaric"].contains(name) {
            return .level
        }
        return .other
    }
}
