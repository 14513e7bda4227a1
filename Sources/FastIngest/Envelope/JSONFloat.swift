/// Floating-point numbers as serde_json 1.0.149 reads and writes them.
///
/// Reading follows serde_json's default (no `float_roundtrip`) algorithm: up to 19–20 significant digits are
/// accumulated in a `UInt64` (later digits are dropped, not rounded), converted with one rounding to `Double`, then
/// multiplied or divided once by an exact power of ten from a table (with 1e308 steps below 1e-308). This is not
/// always the nearest double, and it is what rivven-connect does.
///
/// Writing follows zmij 1.0 (`format_finite`, used by serde_json since 1.0.147): shortest round-trip digits, plain
/// decimal notation while the decimal exponent is within -5...15 (`0.00001`, `1000000000000000.0`), scientific
/// notation outside it with an explicit exponent sign (`1e-6`, `1e+16`, `1.5e+300`).
enum JSONFloat {
    /// The doubles nearest to 1e0...1e308 (serde_json's `POW10` table), as bit patterns.
    ///
    /// Not written as float literals: on x86-64 the Swift compiler converts literals through `Float80`, which
    /// double-rounds some of them (`1e126` comes out one ulp low), while Rust's literals are correctly rounded.
    static let powersOfTen: [Double] = powerOfTenBits.map { Double(bitPattern: $0) }

    private static let powerOfTenBits: [UInt64] = [
        0x3FF0_0000_0000_0000, 0x4024_0000_0000_0000, 0x4059_0000_0000_0000, 0x408F_4000_0000_0000,  // 1e0
        0x40C3_8800_0000_0000, 0x40F8_6A00_0000_0000, 0x412E_8480_0000_0000, 0x4163_12D0_0000_0000,  // 1e4
        0x4197_D784_0000_0000, 0x41CD_CD65_0000_0000, 0x4202_A05F_2000_0000, 0x4237_4876_E800_0000,  // 1e8
        0x426D_1A94_A200_0000, 0x42A2_309C_E540_0000, 0x42D6_BCC4_1E90_0000, 0x430C_6BF5_2634_0000,  // 1e12
        0x4341_C379_37E0_8000, 0x4376_3457_85D8_A000, 0x43AB_C16D_674E_C800, 0x43E1_58E4_6091_3D00,  // 1e16
        0x4415_AF1D_78B5_8C40, 0x444B_1AE4_D6E2_EF50, 0x4480_F0CF_064D_D592, 0x44B5_2D02_C7E1_4AF6,  // 1e20
        0x44EA_7843_79D9_9DB4, 0x4520_8B2A_2C28_0291, 0x4554_ADF4_B732_0335, 0x4589_D971_E4FE_8402,  // 1e24
        0x45C0_27E7_2F1F_1281, 0x45F4_31E0_FAE6_D721, 0x4629_3E59_39A0_8CEA, 0x465F_8DEF_8808_B024,  // 1e28
        0x4693_B8B5_B505_6E17, 0x46C8_A6E3_2246_C99C, 0x46FE_D09B_EAD8_7C03, 0x4733_4261_72C7_4D82,  // 1e32
        0x4768_12F9_CF79_20E3, 0x479E_17B8_4357_691B, 0x47D2_CED3_2A16_A1B1, 0x4807_8287_F49C_4A1D,  // 1e36
        0x483D_6329_F1C3_5CA5, 0x4872_5DFA_371A_19E7, 0x48A6_F578_C4E0_A061, 0x48DC_B2D6_F618_C879,  // 1e40
        0x4911_EFC6_59CF_7D4C, 0x4946_6BB7_F043_5C9E, 0x497C_06A5_EC54_33C6, 0x49B1_8427_B3B4_A05C,  // 1e44
        0x49E5_E531_A0A1_C873, 0x4A1B_5E7E_08CA_3A8F, 0x4A51_1B0E_C57E_649A, 0x4A85_61D2_76DD_FDC0,  // 1e48
        0x4ABA_BA47_1495_7D30, 0x4AF0_B46C_6CDD_6E3E, 0x4B24_E187_8814_C9CE, 0x4B5A_19E9_6A19_FC41,  // 1e52
        0x4B90_5031_E250_3DA9, 0x4BC4_643E_5AE4_4D13, 0x4BF9_7D4D_F19D_6057, 0x4C2F_DCA1_6E04_B86D,  // 1e56
        0x4C63_E9E4_E4C2_F344, 0x4C98_E45E_1DF3_B015, 0x4CCF_1D75_A570_9C1B, 0x4D03_7269_8766_6191,  // 1e60
        0x4D38_4F03_E93F_F9F5, 0x4D6E_62C4_E38F_F872, 0x4DA2_FDBB_0E39_FB47, 0x4DD7_BD29_D1C8_7A19,  // 1e64
        0x4E0D_AC74_463A_989F, 0x4E42_8BC8_ABE4_9F64, 0x4E77_2EBA_D6DD_C73D, 0x4EAC_FA69_8C95_390C,  // 1e68
        0x4EE2_1C81_F7DD_43A7, 0x4F16_A3A2_75D4_9491, 0x4F4C_4C8B_1349_B9B5, 0x4F81_AFD6_EC0E_1411,  // 1e72
        0x4FB6_1BCC_A711_9916, 0x4FEB_A2BF_D0D5_FF5B, 0x5021_45B7_E285_BF99, 0x5055_9725_DB27_2F7F,  // 1e76
        0x508A_FCEF_51F0_FB5F, 0x50C0_DE15_9336_9D1B, 0x50F5_159A_F804_4462, 0x512A_5B01_B605_557B,  // 1e80
        0x5160_78E1_11C3_556D, 0x5194_9719_5634_2AC8, 0x51C9_BCDF_ABC1_357A, 0x5200_160B_CB58_C16C,  // 1e84
        0x5234_1B8E_BE2E_F1C7, 0x5269_2272_6DBA_AE39, 0x529F_6B0F_0929_59C7, 0x52D3_A2E9_65B9_D81D,  // 1e88
        0x5308_8BA3_BF28_4E24, 0x533E_AE8C_AEF2_61AD, 0x5373_2D17_ED57_7D0C, 0x53A7_F85D_E8AD_5C4F,  // 1e92
        0x53DD_F675_62D8_B363, 0x5412_BA09_5DC7_701E, 0x5447_688B_B539_4C25, 0x547D_42AE_A287_9F2E,  // 1e96
        0x54B2_49AD_2594_C37D, 0x54E6_DC18_6EF9_F45C, 0x551C_931E_8AB8_7173, 0x5551_DBF3_16B3_46E8,  // 1e100
        0x5586_52EF_DC60_18A2, 0x55BB_E7AB_D378_1ECA, 0x55F1_70CB_642B_133F, 0x5625_CCFE_3D35_D80E,  // 1e104
        0x565B_403D_CC83_4E12, 0x5691_0826_9FD2_10CB, 0x56C5_4A30_47C6_94FE, 0x56FA_9CBC_59B8_3A3D,  // 1e108
        0x5730_A1F5_B813_2466, 0x5764_CA73_2617_ED80, 0x5799_FD0F_EF9D_E8E0, 0x57D0_3E29_F5C2_B18C,  // 1e112
        0x5804_4DB4_7333_5DEF, 0x5839_6121_9000_356B, 0x586F_B969_F400_42C5, 0x58A3_D3E2_3880_29BB,  // 1e116
        0x58D8_C8DA_C6A0_342A, 0x590E_FB11_7848_4135, 0x5943_5CEA_EB2D_28C1, 0x5978_3425_A5F8_72F1,  // 1e120
        0x59AE_412F_0F76_8FAD, 0x59E2_E8BD_69AA_19CC, 0x5A17_A2EC_C414_A03F, 0x5A4D_8BA7_F519_C84F,  // 1e124
        0x5A82_7748_F930_1D32, 0x5AB7_151B_377C_247E, 0x5AEC_DA62_055B_2D9E, 0x5B22_087D_4358_FC82,  // 1e128
        0x5B56_8A9C_942F_3BA3, 0x5B8C_2D43_B93B_0A8C, 0x5BC1_9C4A_53C4_E697, 0x5BF6_035C_E8B6_203D,  // 1e132
        0x5C2B_8434_22E3_A84D, 0x5C61_32A0_95CE_4930, 0x5C95_7F48_BB41_DB7C, 0x5CCA_DF1A_EA12_525B,  // 1e136
        0x5D00_CB70_D24B_7379, 0x5D34_FE4D_06DE_5057, 0x5D6A_3DE0_4895_E46D, 0x5DA0_66AC_2D5D_AEC4,  // 1e140
        0x5DD4_8057_38B5_1A75, 0x5E09_A06D_06E2_6112, 0x5E40_0444_244D_7CAB, 0x5E74_0555_2D60_DBD6,  // 1e144
        0x5EA9_06AA_78B9_12CC, 0x5EDF_4855_16E7_577F, 0x5F13_8D35_2E50_96AF, 0x5F48_7082_79E4_BC5B,  // 1e148
        0x5F7E_8CA3_185D_EB72, 0x5FB3_17E5_EF3A_B327, 0x5FE7_DDDF_6B09_5FF1, 0x601D_D557_45CB_B7ED,  // 1e152
        0x6052_A556_8B9F_52F4, 0x6087_4EAC_2E87_27B1, 0x60BD_2257_3A28_F19D, 0x60F2_3576_8459_9702,  // 1e156
        0x6126_C2D4_256F_FCC3, 0x615C_7389_2ECB_FBF4, 0x6191_C835_BD3F_7D78, 0x61C6_3A43_2C8F_5CD6,  // 1e160
        0x61FB_C8D3_F7B3_340C, 0x6231_5D84_7AD0_0087, 0x6265_B4E5_9984_00A9, 0x629B_221E_FFE5_00D4,  // 1e164
        0x62D0_F553_5FEF_2084, 0x6305_32A8_37EA_E8A5, 0x633A_7F52_45E5_A2CF, 0x6370_8F93_6BAF_85C1,  // 1e168
        0x63A4_B378_469B_6732, 0x63D9_E056_5842_40FE, 0x6410_2C35_F729_689F, 0x6444_3743_74F3_C2C6,  // 1e172
        0x6479_4514_5230_B378, 0x64AF_9659_66BC_E056, 0x64E3_BDF7_E036_0C36, 0x6518_AD75_D843_8F43,  // 1e176
        0x654E_D8D3_4E54_7314, 0x6583_4784_10F4_C7EC, 0x65B8_1965_1531_F9E8, 0x65EE_1FBE_5A7E_7861,  // 1e180
        0x6622_D3D6_F88F_0B3D, 0x6657_88CC_B6B2_CE0C, 0x668D_6AFF_E45F_818F, 0x66C2_62DF_EEBB_B0F9,  // 1e184
        0x66F6_FB97_EA6A_9D38, 0x672C_BA7D_E505_4486, 0x6761_F48E_AF23_4AD4, 0x6796_71B2_5AEC_1D89,  // 1e188
        0x67CC_0E1E_F1A7_24EB, 0x6801_88D3_5708_7713, 0x6835_EB08_2CCA_94D7, 0x686B_65CA_37FD_3A0D,  // 1e192
        0x68A1_1F9E_62FE_4448, 0x68D5_6785_FBBD_D55A, 0x690A_C167_7AAD_4AB1, 0x6940_B8E0_ACAC_4EAF,  // 1e196
        0x6974_E718_D7D7_625A, 0x69AA_20DF_0DCD_3AF1, 0x69E0_548B_68A0_44D6, 0x6A14_69AE_42C8_560C,  // 1e200
        0x6A49_8419_D37A_6B8F, 0x6A7F_E520_4859_0673, 0x6AB3_EF34_2D37_A408, 0x6AE8_EB01_3885_8D0A,  // 1e204
        0x6B1F_25C1_86A6_F04C, 0x6B53_7798_F428_5630, 0x6B88_557F_3132_6BBB, 0x6BBE_6ADE_FD7F_06AA,  // 1e208
        0x6BF3_02CB_5E6F_642A, 0x6C27_C37E_360B_3D35, 0x6C5D_B45D_C38E_0C82, 0x6C92_90BA_9A38_C7D1,  // 1e212
        0x6CC7_34E9_40C6_F9C6, 0x6CFD_0223_90F8_B837, 0x6D32_2156_3A9B_7323, 0x6D66_A9AB_C942_4FEB,  // 1e216
        0x6D9C_5416_BB92_E3E6, 0x6DD1_B48E_353B_CE70, 0x6E06_21B1_C28A_C20C, 0x6E3B_AA1E_332D_728F,  // 1e220
        0x6E71_4A52_DFFC_6799, 0x6EA5_9CE7_97FB_817F, 0x6EDB_0421_7DFA_61DF, 0x6F10_E294_EEBC_7D2C,  // 1e224
        0x6F45_1B3A_2A6B_9C76, 0x6F7A_6208_B506_8394, 0x6FB0_7D45_7124_123D, 0x6FE4_9C96_CD6D_16CC,  // 1e228
        0x7019_C3BC_80C8_5C7F, 0x7050_1A55_D07D_39CF, 0x7084_20EB_449C_8843, 0x70B9_2926_15C3_AA54,  // 1e232
        0x70EF_736F_9B34_94E9, 0x7123_A825_C100_DD11, 0x7158_922F_3141_1456, 0x718E_B6BA_FD91_596B,  // 1e236
        0x71C3_3234_DE7A_D7E3, 0x71F7_FEC2_1619_8DDC, 0x722D_FE72_9B9F_F153, 0x7262_BF07_A143_F6D4,  // 1e240
        0x7297_6EC9_8994_F489, 0x72CD_4A7B_EBFA_31AB, 0x7302_4E8D_737C_5F0B, 0x7336_E230_D05B_76CD,  // 1e244
        0x736C_9ABD_0472_5481, 0x73A1_E0B6_22C7_74D0, 0x73D6_58E3_AB79_5204, 0x740B_EF1C_9657_A686,  // 1e248
        0x7441_7571_DDF6_C814, 0x7475_D2CE_5574_7A18, 0x74AB_4781_EAD1_989E, 0x74E1_0CB1_32C2_FF63,  // 1e252
        0x7515_4FDD_7F73_BF3C, 0x754A_A3D4_DF50_AF0B, 0x7580_A665_0B92_6D67, 0x75B4_CFFE_4E77_08C0,  // 1e256
        0x75EA_03FD_E214_CAF1, 0x7620_427E_AD4C_FED6, 0x7654_531E_58A0_3E8C, 0x7689_67E5_EEC8_4E2F,  // 1e260
        0x76BF_C1DF_6A7A_61BB, 0x76F3_D92B_A28C_7D15, 0x7728_CF76_8B2F_9C5A, 0x775F_0354_2DFB_8370,  // 1e264
        0x7793_6214_9CBD_3226, 0x77C8_3A99_C3EC_7EB0, 0x77FE_4940_34E7_9E5C, 0x7832_EDC8_2110_C2F9,  // 1e268
        0x7867_A93A_2954_F3B8, 0x789D_9388_B3AA_30A5, 0x78D2_7C35_704A_5E67, 0x7907_1B42_CC5C_F601,  // 1e272
        0x793C_E213_7F74_3382, 0x7972_0D4C_2FA8_A031, 0x79A6_909F_3B92_C83D, 0x79DC_34C7_0A77_7A4D,  // 1e276
        0x7A11_A0FC_668A_AC70, 0x7A46_093B_802D_578C, 0x7A7B_8B8A_6038_AD6F, 0x7AB1_3736_7C23_6C65,  // 1e280
        0x7AE5_8504_1B2C_477F, 0x7B1A_E645_21F7_595E, 0x7B50_CFEB_353A_97DB, 0x7B85_03E6_0289_3DD2,  // 1e284
        0x7BBA_44DF_832B_8D46, 0x7BF0_6B0B_B1FB_384C, 0x7C24_85CE_9E7A_065F, 0x7C59_A742_4618_87F6,  // 1e288
        0x7C90_0889_6BCF_54FA, 0x7CC4_0AAB_C6C3_2A38, 0x7CF9_0D56_B873_F4C7, 0x7D2F_50AC_6690_F1F8,  // 1e292
        0x7D63_926B_C01A_973B, 0x7D98_7706_B021_3D0A, 0x7DCE_94C8_5C29_8C4C, 0x7E03_1CFD_3999_F7B0,  // 1e296
        0x7E37_E43C_8800_759C, 0x7E6D_DD4B_AA00_9303, 0x7EA2_AA4F_4A40_5BE2, 0x7ED7_54E3_1CD0_72DA,  // 1e300
        0x7F0D_2A1B_E404_8F90, 0x7F42_3A51_6E82_D9BA, 0x7F76_C8E5_CA23_9029, 0x7FAC_7B1F_3CAC_7433,  // 1e304
        0x7FE1_CCF3_85EB_C8A0,  // 1e308
    ]

    /// serde_json's `f64_from_parts` (default features).
    /// - Returns: nil when the result overflows to infinity (serde_json's "number out of range").
    static func fromParts(positive: Bool, significand: UInt64, exponent: Int32) -> Double? {
        var value = Double(significand)
        var exponent = exponent
        while true {
            let magnitude = exponent.magnitude
            if magnitude < 309 {
                let power = powersOfTen[Int(magnitude)]
                if exponent >= 0 {
                    value *= power
                    if value.isInfinite {
                        return nil
                    }
                } else {
                    value /= power
                }
                break
            }
            if value == 0 {
                break
            }
            if exponent >= 0 {
                return nil
            }
            value /= powersOfTen[308]
            exponent += 308
        }
        return positive ? value : -value
    }

    /// The longest text written (`-2.2250738585072014e-308`, `-0.000012345678901234567`).
    static let maxLength = 24

    /// Writes `value` (finite) the way zmij's `format_finite` prints it.
    static func write(_ value: Double, to writer: inout ByteWriter) {
        if value == 0 {
            if value.sign == .minus {
                writer.put(UInt8(ascii: "-"))
            }
            writer.put(UInt8(ascii: "0"))
            writer.put(UInt8(ascii: "."))
            writer.put(UInt8(ascii: "0"))
            return
        }
        // Swift prints the shortest round-trip digits (closest to the exact value), the same digits as
        // Ryu/zmij; only the layout differs, so the digits and exponent are read back and laid out again.
        // `_writeASCII` hands the digits over from a stack buffer: no String, no allocation.
        var capture = ShortestDigitsCapture()
        value.write(to: &capture)
        var digits = DigitBuffer()
        var digitsBeforePoint = -1
        var exponent = 0
        var exponentNegative = false
        var inExponent = false
        capture.withBytes { text in
            for byte in text {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    if inExponent {
                        exponent = exponent * 10 + Int(byte &- 48)
                    } else {
                        digits.append(byte)
                    }
                case UInt8(ascii: "."):
                    digitsBeforePoint = digits.count
                case UInt8(ascii: "e"), UInt8(ascii: "E"):
                    inExponent = true
                case UInt8(ascii: "-"):
                    if inExponent { exponentNegative = true }
                default:
                    break
                }
            }
        }
        if digitsBeforePoint < 0 {
            digitsBeforePoint = digits.count
        }
        if exponentNegative {
            exponent = -exponent
        }
        digits.withBytes { all in
            var first = 0
            while first < all.count - 1 && all[first] == UInt8(ascii: "0") { first += 1 }
            var end = all.count
            while end > first + 1 && all[end - 1] == UInt8(ascii: "0") { end -= 1 }
            let significant = UnsafeRawBufferPointer(rebasing: all[first..<end])
            // Scientific exponent: value = d.ddd × 10^scientific.
            let scientific = digitsBeforePoint - 1 - first + exponent
            if value.sign == .minus {
                writer.put(UInt8(ascii: "-"))
            }
            layOut(significant, scientificExponent: scientific, to: &writer)
        }
    }

    /// zmij's layout of significant digits `d1 d2 … dn` (no leading/trailing zeros) times 10^`scientificExponent`.
    static func layOut(_ digits: UnsafeRawBufferPointer, scientificExponent e: Int, to writer: inout ByteWriter) {
        let length = digits.count
        if (-5...15).contains(e) {
            if length - 1 <= e {
                // 1234e7 -> 12340000000.0
                writer.put(digits)
                for _ in 0..<(e + 1 - length) { writer.put(UInt8(ascii: "0")) }
                writer.put(UInt8(ascii: "."))
                writer.put(UInt8(ascii: "0"))
            } else if e >= 0 {
                // 1234e-2 -> 12.34
                writer.put(UnsafeRawBufferPointer(rebasing: digits[0...e]))
                writer.put(UInt8(ascii: "."))
                writer.put(UnsafeRawBufferPointer(rebasing: digits[(e + 1)...]))
            } else {
                // 1234e-6 -> 0.001234
                writer.put(UInt8(ascii: "0"))
                writer.put(UInt8(ascii: "."))
                for _ in 0..<(-e - 1) { writer.put(UInt8(ascii: "0")) }
                writer.put(digits)
            }
            return
        }
        // 1234e30 -> 1.234e+33
        writer.put(digits[0])
        if length > 1 {
            writer.put(UInt8(ascii: "."))
            writer.put(UnsafeRawBufferPointer(rebasing: digits[1...]))
        }
        writer.put(UInt8(ascii: "e"))
        writer.put(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        writer.putDecimal(UInt64(e.magnitude))
    }
}

/// A `TextOutputStream` with inline storage, used to receive the characters of `Double.write(to:)`.
struct ShortestDigitsCapture: TextOutputStream {
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    private var count = 0

    mutating func write(_ string: String) {
        for byte in string.utf8 { append(byte) }
    }

    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
        for byte in buffer { append(byte) }
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        // 48 bytes is far more than the longest Double text (24 characters).
        guard count < 48 else { return }
        let position = count
        withUnsafeMutableBytes(of: &storage) { $0[position] = byte }
        count += 1
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var copy = storage
        let length = count
        return withUnsafeBytes(of: &copy) { body(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
    }
}

/// Up to 32 ASCII digits with inline storage.
struct DigitBuffer {
    private var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private(set) var count = 0

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        guard count < 32 else { return }
        let position = count
        withUnsafeMutableBytes(of: &storage) { $0[position] = byte }
        count += 1
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var copy = storage
        let length = count
        return withUnsafeBytes(of: &copy) { body(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
    }
}
